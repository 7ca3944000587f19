"""The one module that talks to the ``stripe`` package.

Everything else in the project sees plain values (:class:`ProviderIntent`, :class:`ProviderSubscription`, event
dicts) and our own errors (:class:`billing.errors.ProviderError`, ``invalid_signature``).

Configuration: ``STRIPE_SECRET_KEY`` (API key), ``STRIPE_WEBHOOK_SECRET`` (endpoint signing secret, ``whsec_…``),
``STRIPE_API_BASE`` (empty for Stripe itself; a proxy or a fake server otherwise), ``STRIPE_WEBHOOK_TOLERANCE``
(seconds, 300 by default) and ``STRIPE_TIMEOUT_SECONDS``.
"""
from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import stripe
from django.conf import settings
from django.utils.translation import gettext as _

from billing import errors
from core.api import json_problem
from core.errors import InvalidInput

logger = logging.getLogger("prostqs.billing.stripe")


@dataclass(frozen=True)
class ProviderIntent:
    id: str
    status: str
    amount: int
    currency: str
    client_secret: str = ""
    amount_received: int = 0
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderSubscription:
    id: str
    status: str
    current_period_end: int | None = None


def is_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


@functools.lru_cache(maxsize=4)
def _client(api_key: str, api_base: str, timeout: int) -> stripe.StripeClient:
    base = {"api": api_base} if api_base else None
    return stripe.StripeClient(api_key, base_addresses=base, max_network_retries=2,
                               http_client=stripe.RequestsClient(timeout=timeout))


def client() -> stripe.StripeClient:
    if not is_configured():
        raise errors.ProviderError(_("Stripe is not configured (STRIPE_SECRET_KEY)."))
    return _client(settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE, settings.STRIPE_TIMEOUT_SECONDS)


def _call(what: str, fn, *args, **kwargs) -> dict[str, Any]:
    """Call the client; return the resource as a plain dict."""
    try:
        return fn(*args, **kwargs).to_dict()
    except stripe.CardError as exc:
        raise errors.ProviderError(exc.user_message or _("The card was declined."), code="card_declined",
                                   status=402) from None
    except stripe.StripeError as exc:
        # The provider's message may name our configuration; log it, answer with a stable code.
        logger.warning("stripe %s failed: %s (%s)", what, exc.user_message or exc, type(exc).__name__)
        raise errors.ProviderError(extra={"provider_code": getattr(exc, "code", None) or ""}) from None


def _intent(obj: Any) -> ProviderIntent:
    return ProviderIntent(
        id=obj["id"], status=obj["status"], amount=int(obj["amount"]), currency=str(obj["currency"]).upper(),
        client_secret=obj.get("client_secret") or "", amount_received=int(obj.get("amount_received") or 0),
        metadata=dict(obj.get("metadata") or {}),
    )


def payment_intent_create(*, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str,
                          customer: str | None = None) -> ProviderIntent:
    """Create a PaymentIntent. Our idempotency key goes to Stripe, so a retried request never charges twice."""
    params: dict[str, Any] = {"amount": amount, "currency": currency.lower(), "metadata": metadata,
                              "payment_method_types": ["card"]}
    if customer:
        params["customer"] = customer
    obj = _call("payment_intent_create", client().v1.payment_intents.create, params=params,
                options={"idempotency_key": idempotency_key})
    return _intent(obj)


def payment_intent_retrieve(intent_id: str) -> ProviderIntent:
    return _intent(_call("payment_intent_retrieve", client().v1.payment_intents.retrieve, intent_id))


def customer_create(*, metadata: dict[str, str], idempotency_key: str) -> str:
    obj = _call("customer_create", client().v1.customers.create, params={"metadata": metadata},
                options={"idempotency_key": idempotency_key})
    return obj["id"]


def _subscription(obj: Any) -> ProviderSubscription:
    end = obj.get("current_period_end")
    if end is None:
        items = (obj.get("items") or {}).get("data") or []
        end = items[0].get("current_period_end") if items else None
    return ProviderSubscription(id=obj["id"], status=obj["status"], current_period_end=end)


def subscription_create(*, customer: str, payment_method: str, plan_id: str, amount: int, currency: str,
                        interval: str, metadata: dict[str, str], idempotency_key: str) -> ProviderSubscription:
    """A subscription charged by Stripe on the customer's card (``payment_method``, collected by Stripe.js)."""
    c = client()
    _call("payment_method_attach", c.v1.payment_methods.attach, payment_method, params={"customer": customer},
          options={"idempotency_key": f"{idempotency_key}:attach"})
    _call("customer_update", c.v1.customers.update, customer,
          params={"invoice_settings": {"default_payment_method": payment_method}},
          options={"idempotency_key": f"{idempotency_key}:default-payment-method"})
    plan = _call("plan_create", c.v1.plans.create,
                 params={"amount": amount, "currency": currency.lower(), "interval": interval,
                         "product": {"name": plan_id}, "metadata": metadata},
                 options={"idempotency_key": f"{idempotency_key}:plan"})
    obj = _call("subscription_create", c.v1.subscriptions.create,
                params={"customer": customer, "items": [{"plan": plan["id"]}], "metadata": metadata,
                        "payment_behavior": "allow_incomplete"},
                options={"idempotency_key": f"{idempotency_key}:subscription"})
    return _subscription(obj)


def subscription_cancel(subscription_id: str) -> ProviderSubscription:
    return _subscription(_call("subscription_cancel", client().v1.subscriptions.cancel, subscription_id))


def subscription_retrieve(subscription_id: str) -> ProviderSubscription:
    return _subscription(_call("subscription_retrieve", client().v1.subscriptions.retrieve, subscription_id))


def _signed_at(signature: str) -> int | None:
    """The ``t=`` of a ``Stripe-Signature`` header, read as the stripe package reads it (its first ``t``)."""
    for item in signature.split(","):
        name, _sep, value = item.partition("=")
        if name.strip() == "t":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def webhook_event(payload: bytes, signature: str | None) -> dict[str, Any]:
    """Verify a webhook's ``Stripe-Signature`` (HMAC-SHA256, timestamp within ``STRIPE_WEBHOOK_TOLERANCE`` seconds
    of now, before or after); return the event.

    Raises 400 ``invalid_signature`` for a missing, wrong, stale or future-stamped signature and 400
    ``invalid_event`` for a body that is not an event (or holds text that cannot be stored).
    """
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise InvalidInput(_("Webhooks are not accepted: STRIPE_WEBHOOK_SECRET is not configured."),
                           code=errors.INVALID_SIGNATURE)
    tolerance = settings.STRIPE_WEBHOOK_TOLERANCE
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret, tolerance=tolerance)
    except stripe.SignatureVerificationError:
        raise InvalidInput(_("The webhook signature is not valid."), code=errors.INVALID_SIGNATURE) from None
    except (ValueError, TypeError, AttributeError, KeyError):
        # Raised only after the signature checked out: the signed body is JSON but not an event object.
        raise InvalidInput(_("The webhook body is not a JSON event."), code=errors.INVALID_EVENT) from None
    # The stripe package refuses only timestamps older than the tolerance. One stamped in the future is refused too:
    # a signature made ahead of time (a leaked secret, a skewed signer) must not stay replayable until that time.
    signed_at = _signed_at(signature or "")
    if signed_at is None or signed_at > time.time() + tolerance:
        raise InvalidInput(_("The webhook signature is not valid."), code=errors.INVALID_SIGNATURE)
    data = event.to_dict()
    if not isinstance(data.get("id"), str) or not isinstance(data.get("type"), str):
        raise InvalidInput(_("The webhook body is not a Stripe event."), code=errors.INVALID_EVENT)
    problem = json_problem(data)  # the body was read raw for its signature, so the API's parser never saw it
    if problem:
        raise InvalidInput(problem, code=errors.INVALID_EVENT)
    return data
