"""System checks: a production deployment that takes Stripe payments must be able to verify Stripe's webhooks."""
from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def stripe_webhook_secret(app_configs, **kwargs):
    if settings.STRIPE_SECRET_KEY and not settings.STRIPE_WEBHOOK_SECRET:
        return [checks.Error("STRIPE_SECRET_KEY is set but STRIPE_WEBHOOK_SECRET is not: payments would never be "
                             "confirmed.", id="billing.E001")]
    return []
