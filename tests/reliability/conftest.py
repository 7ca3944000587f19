"""Fixtures of the reliability tests: the billing tests' localstripe server and Stripe settings, the identity
tests' OTP outbox (codes written by the file sender)."""
from tests.billing.conftest import localstripe_url, localstripe_webhook, stripe_api, stripe_on, webhooks_on  # noqa: F401
from tests.identity.conftest import otp_outbox  # noqa: F401
