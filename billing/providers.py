"""Payment providers: Stripe when ``STRIPE_SECRET_KEY`` is set, otherwise a local stand-in for offline demos.

The local provider keeps no state of its own: its intents (``pi_local_…``) are confirmed from the console, which
builds a ``payment_intent.succeeded`` event and processes it exactly like a Stripe webhook.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Protocol

from django.conf import settings

from billing import stripe_client
from billing.models import Provider
from billing.stripe_client import ProviderIntent, ProviderSubscription


class PaymentProvider(Protocol):
    name: str

    def create_intent(self, *, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str,
                      customer: str | None = None) -> ProviderIntent: ...

    def client_secret(self, intent_id: str) -> str: ...

    def create_subscription(self, *, customer: str, payment_method: str, plan_id: str, amount: int, currency: str,
                            interval: str, metadata: dict[str, str],
                            idempotency_key: str) -> ProviderSubscription: ...

    def cancel_subscription(self, subscription_id: str) -> ProviderSubscription: ...


def local_client_secret(intent_id: str) -> str:
    """The local provider's client secret: derived from the intent id with a server key, so it is never stored
    and an idempotent replay can give the very same one again."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"local-client-secret:{intent_id}".encode(), hashlib.sha256)
    return f"{intent_id}_secret_{digest.hexdigest()[:24]}"


class LocalProvider:
    name = Provider.LOCAL

    def create_intent(self, *, amount, currency, metadata, idempotency_key, customer=None) -> ProviderIntent:
        intent_id = f"pi_local_{secrets.token_hex(12)}"
        return ProviderIntent(id=intent_id, status="requires_payment_method", amount=amount, currency=currency,
                              client_secret=local_client_secret(intent_id), metadata=metadata)

    def client_secret(self, intent_id: str) -> str:
        return local_client_secret(intent_id)

    def create_subscription(self, *, customer, payment_method, plan_id, amount, currency, interval, metadata,
                            idempotency_key) -> ProviderSubscription:
        return ProviderSubscription(id=f"sub_local_{secrets.token_hex(12)}", status="active")

    def cancel_subscription(self, subscription_id: str) -> ProviderSubscription:
        return ProviderSubscription(id=subscription_id, status="canceled")


class StripeProvider:
    name = Provider.STRIPE

    def client_secret(self, intent_id: str) -> str:
        return stripe_client.payment_intent_retrieve(intent_id).client_secret

    def create_intent(self, *, amount, currency, metadata, idempotency_key, customer=None) -> ProviderIntent:
        return stripe_client.payment_intent_create(amount=amount, currency=currency, metadata=metadata,
                                                   idempotency_key=idempotency_key, customer=customer)

    def create_subscription(self, *, customer, payment_method, plan_id, amount, currency, interval, metadata,
                            idempotency_key) -> ProviderSubscription:
        return stripe_client.subscription_create(customer=customer, payment_method=payment_method, plan_id=plan_id,
                                                 amount=amount, currency=currency, interval=interval,
                                                 metadata=metadata, idempotency_key=idempotency_key)

    def cancel_subscription(self, subscription_id: str) -> ProviderSubscription:
        return stripe_client.subscription_cancel(subscription_id)


def payment_provider(name: str | None = None) -> PaymentProvider:
    """The configured provider, or the one named (an existing intent keeps the provider it was created with)."""
    if name is None:
        name = Provider.STRIPE if stripe_client.is_configured() else Provider.LOCAL
    return StripeProvider() if name == Provider.STRIPE else LocalProvider()
