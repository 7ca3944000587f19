"""Subscriptions: created and canceled here, their status kept in step with the provider's events.

With Stripe, the subscription is Stripe's (a plan of ``amount`` per ``interval`` charged on the customer's card,
which the client collected with Stripe.js and passes as ``payment_method``); Stripe's statuses map onto ours:
``active``/``trialing`` → active, ``past_due``/``unpaid``/``incomplete`` → past_due (a payment is owed),
``canceled``/``incomplete_expired`` → canceled. Events apply newest first wins: an older event arriving late never
undoes a newer one, and canceled is final. With the local provider, subscriptions start active.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from billing import errors, events, stripe_client
from billing.models import BillingAccount, Provider, Subscription
from billing.providers import payment_provider
from billing.services.ledger import validate_amount
from billing.services.payments import normalise_currency, provider_key
from core.errors import Conflict, InvalidInput, NotFound
from infrastructure.services.killswitches import killswitch_ensure_running

SUBSCRIPTION_NAMESPACE = uuid.UUID("5d1c2b7e-8a0f-4e63-b9d4-71c0e2a6f318")
MAX_PLAN_ID = 128

STATUS_FROM_PROVIDER = {
    "active": Subscription.Status.ACTIVE,
    "trialing": Subscription.Status.ACTIVE,
    "past_due": Subscription.Status.PAST_DUE,
    "unpaid": Subscription.Status.PAST_DUE,
    "incomplete": Subscription.Status.PAST_DUE,
    "paused": Subscription.Status.PAST_DUE,
    "canceled": Subscription.Status.CANCELED,
    "incomplete_expired": Subscription.Status.CANCELED,
}


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC) if value is not None else None
    except (TypeError, ValueError, OverflowError):
        return None


def _ensure_customer(account: BillingAccount) -> str:
    if account.stripe_customer_id:
        return account.stripe_customer_id
    customer = stripe_client.customer_create(metadata={"account_id": str(account.pk)},
                                             idempotency_key=f"customer:{account.pk}")
    BillingAccount.objects.filter(pk=account.pk, stripe_customer_id="").update(stripe_customer_id=customer)
    account.stripe_customer_id = customer
    return customer


@transaction.atomic
def subscription_create(*, account_id: Any, plan_id: str, amount: int, interval: str, currency: str | None = None,
                        app_id: Any = None, payment_method: str = "", idempotency_key: str = "") -> Subscription:
    amount = validate_amount(amount)
    plan_id = (plan_id or "").strip()
    if not plan_id or len(plan_id) > MAX_PLAN_ID:
        raise InvalidInput(fields={"plan_id": [_("1 to %(n)d characters.") % {"n": MAX_PLAN_ID}]})
    if interval not in Subscription.Interval.values:
        raise InvalidInput(fields={"interval": [_("Must be month or year.")]})
    killswitch_ensure_running("billing")
    try:
        account = BillingAccount.objects.get(pk=account_id)
    except (BillingAccount.DoesNotExist, ValidationError, ValueError, TypeError):
        raise errors.AccountNotFound() from None
    currency = normalise_currency(currency or account.currency)
    if currency != account.currency:
        raise InvalidInput(_("The account holds %(currency)s.") % {"currency": account.currency},
                           code=errors.CURRENCY_MISMATCH, fields={"currency": [_("Must be the account's currency.")]})
    subscription_id = (uuid.uuid5(SUBSCRIPTION_NAMESPACE, f"{app_id}:{idempotency_key}") if idempotency_key
                       else uuid.uuid4())
    if Subscription.objects.filter(pk=subscription_id).exists():
        raise Conflict(_("This Idempotency-Key was already used for subscription %(id)s.") % {"id": subscription_id},
                       code=errors.IDEMPOTENCY_MISMATCH)
    provider = payment_provider()
    customer = ""
    if provider.name == Provider.STRIPE:
        if not payment_method or not isinstance(payment_method, str):
            raise InvalidInput(_("Stripe subscriptions need the customer's payment method (pm_…)."),
                               code=errors.PAYMENT_METHOD_REQUIRED,
                               fields={"payment_method": [_("This field is required.")]})
        customer = _ensure_customer(account)
    remote = provider.create_subscription(
        customer=customer, payment_method=payment_method, plan_id=plan_id, amount=amount, currency=currency,
        interval=interval, metadata={"subscription_id": str(subscription_id), "account_id": str(account.pk)},
        idempotency_key=provider_key(app_id=app_id, idempotency_key=idempotency_key or str(subscription_id)),
    )
    subscription = Subscription.objects.create(
        id=subscription_id, account=account, app_id=app_id, plan_id=plan_id, amount=amount, currency=currency,
        interval=interval, provider=provider.name, stripe_subscription_id=remote.id,
        status=STATUS_FROM_PROVIDER.get(remote.status, Subscription.Status.PAST_DUE),
        current_period_end=_timestamp(remote.current_period_end),
    )
    audit_record(events.SUBSCRIPTION_CREATED, action="create", target_type="subscription",
                 target_id=subscription.pk, after={"plan_id": plan_id, "amount": amount, "interval": interval,
                                                   "status": subscription.status, "provider_id": remote.id},
                 metadata={"account_id": str(account.pk)}, app_id=app_id)
    return subscription


@transaction.atomic
def subscription_cancel(*, subscription_id: Any, reason: str = "") -> Subscription:
    """Cancel now, with the provider too. Canceling a canceled subscription changes nothing."""
    try:
        subscription = Subscription.objects.select_for_update().get(pk=subscription_id)
    except (Subscription.DoesNotExist, ValidationError, ValueError, TypeError):
        raise NotFound(_("Subscription not found.")) from None
    if subscription.status == Subscription.Status.CANCELED:
        return subscription
    if subscription.provider == Provider.STRIPE and subscription.stripe_subscription_id:
        stripe_client.subscription_cancel(subscription.stripe_subscription_id)
    before = subscription.status
    subscription.status = Subscription.Status.CANCELED
    subscription.canceled_at = timezone.now()
    subscription.save()
    audit_record(events.SUBSCRIPTION_CANCELED, action="cancel", target_type="subscription",
                 target_id=subscription.pk, before={"status": before}, after={"status": subscription.status},
                 reason=reason, app_id=subscription.app_id)
    return subscription


def _apply_status(subscription_ref: Any, status: str, *, event: dict[str, Any],
                  period_end: Any = None) -> str:
    if not isinstance(subscription_ref, str) or not subscription_ref:
        return "ignored: the event names no subscription"
    subscription = Subscription.objects.select_for_update().filter(stripe_subscription_id=subscription_ref).first()
    if subscription is None:
        return "ignored: no subscription with this provider id"
    event_at = _timestamp(event.get("created")) or timezone.now()
    if subscription.status == Subscription.Status.CANCELED:
        return "no change: subscription is canceled"
    if subscription.provider_event_at and event_at < subscription.provider_event_at:
        return "ignored: older than the last event applied"
    before = subscription.status
    subscription.status = status
    subscription.provider_event_at = event_at
    if status == Subscription.Status.CANCELED:
        subscription.canceled_at = subscription.canceled_at or event_at
    if _timestamp(period_end):
        subscription.current_period_end = _timestamp(period_end)
    subscription.save()
    if before != status:
        audit_record(events.SUBSCRIPTION_STATUS_CHANGED, action="status", target_type="subscription",
                     target_id=subscription.pk, before={"status": before}, after={"status": status},
                     metadata={"event_id": str(event.get("id")), "event_type": str(event.get("type"))},
                     app_id=subscription.app_id)
        return f"applied: {before} → {status}"
    return f"no change: already {status}"


def _invoice_subscription(invoice: dict[str, Any]) -> Any:
    # Older API versions carry invoice.subscription; newer ones invoice.parent.subscription_details.subscription.
    details = ((invoice.get("parent") or {}).get("subscription_details") or {})
    return invoice.get("subscription") or details.get("subscription")


@transaction.atomic
def subscription_apply_event(event: dict[str, Any]) -> str:
    """``customer.subscription.*`` and ``invoice.*`` events."""
    obj = event["data"]["object"]
    kind = event["type"]
    if kind.startswith("customer.subscription."):
        status = (Subscription.Status.CANCELED if kind == "customer.subscription.deleted"
                  else STATUS_FROM_PROVIDER.get(str(obj.get("status"))))
        if status is None:
            return f"ignored: unknown subscription status {obj.get('status')!r}"
        return _apply_status(obj.get("id"), status, event=event, period_end=obj.get("current_period_end"))
    if kind == "invoice.payment_failed":
        return _apply_status(_invoice_subscription(obj), Subscription.Status.PAST_DUE, event=event)
    if kind in ("invoice.paid", "invoice.payment_succeeded"):
        return _apply_status(_invoice_subscription(obj), Subscription.Status.ACTIVE, event=event)
    return "ignored"
