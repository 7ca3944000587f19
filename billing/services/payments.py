"""Payment intents: creation with the provider, and the effects of the provider's events.

The ``payment_intent_apply_*`` functions are called by webhook processing (``billing.services.webhooks``) for
Stripe events and for the local provider's console confirmations alike. Each locks the intent row and is
idempotent on the intent's own state, so events may arrive in any order and any number of times:

* ``succeeded`` credits the ledger once (``credit_entry``) and confirms;
* ``payment_failed`` marks a still pending intent failed (a later success still confirms it);
* ``dispute`` marks the intent disputed and debits the disputed amount once, after the credit if that has not
  arrived yet; what the balance cannot cover is recorded as ``dispute_shortfall`` (balances never go negative).
"""
from __future__ import annotations

import re
import time
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from billing import errors, events, notifications
from billing.models import BillingAccount, PaymentIntent
from billing.providers import payment_provider
from billing.services.ledger import CREDIT, DEBIT, ledger_post, lock_account, tenant_funds_locked, validate_amount
from core.errors import Conflict, InvalidInput
from identity.models import Application
from infrastructure.services.killswitches import killswitch_ensure_running

# Intent ids derive from (application, idempotency key): a retry after a lost response sends Stripe the very
# same parameters, so Stripe's own idempotency returns the intent it already created.
INTENT_NAMESPACE = uuid.UUID("0b6e5d3c-1f4a-4c8e-9a57-3d2f6b1e8c90")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


def normalise_currency(currency: Any) -> str:
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise InvalidInput(fields={"currency": [_("A three-letter ISO 4217 code, such as BRL.")]})
    return currency.upper()


def _account(account_id: Any) -> BillingAccount:
    try:
        return BillingAccount.objects.get(pk=account_id)
    except (BillingAccount.DoesNotExist, ValidationError, ValueError, TypeError):
        raise errors.AccountNotFound() from None


def provider_key(*, app_id: Any, idempotency_key: str) -> str:
    """The idempotency key sent to the provider: the client's key, namespaced by its application."""
    return f"{app_id}:{idempotency_key}" if app_id else idempotency_key


@transaction.atomic
def payment_intent_create(*, account_id: Any, amount: int, currency: str, idempotency_key: str = "",
                          app_id: Any = None) -> tuple[PaymentIntent, str]:
    """Create an intent with the provider; returns it (``pending``) and the provider's client secret.

    The client secret goes to the caller only: it is never stored.
    """
    amount = validate_amount(amount)
    currency = normalise_currency(currency)
    killswitch_ensure_running("billing")
    account = _account(account_id)
    if currency != account.currency:
        raise InvalidInput(_("The account holds %(currency)s.") % {"currency": account.currency},
                           code=errors.CURRENCY_MISMATCH, fields={"currency": [_("Must be the account's currency.")]})
    if idempotency_key:
        intent_id = uuid.uuid5(INTENT_NAMESPACE, f"{app_id}:{idempotency_key}")
        if PaymentIntent.objects.filter(pk=intent_id).exists():
            raise Conflict(_("This Idempotency-Key was already used for payment intent %(id)s.") % {"id": intent_id},
                           code=errors.IDEMPOTENCY_MISMATCH)
    else:
        intent_id = uuid.uuid4()
    provider = payment_provider()
    remote = provider.create_intent(
        amount=amount, currency=currency,
        metadata={"intent_id": str(intent_id), "account_id": str(account.pk)},
        idempotency_key=provider_key(app_id=app_id, idempotency_key=idempotency_key or str(intent_id)),
        customer=account.stripe_customer_id or None,
    )
    intent = PaymentIntent.objects.create(id=intent_id, account=account, app_id=app_id, amount=amount,
                                          currency=currency, provider=provider.name, stripe_intent_id=remote.id,
                                          idempotency_key=idempotency_key)
    audit_record(events.PAYMENT_INTENT_CREATED, action="create", target_type="payment_intent", target_id=intent.pk,
                 after={"amount": amount, "currency": currency, "status": intent.status,
                        "provider": provider.name, "provider_id": remote.id},
                 metadata={"account_id": str(account.pk)}, app_id=app_id)
    return intent, remote.client_secret


def payment_intent_client_secret(intent: PaymentIntent) -> str:
    """The provider's client secret of an intent, fetched again (it is never stored)."""
    return payment_provider(intent.provider).client_secret(intent.stripe_intent_id)


def _locked_intent(provider_intent_id: Any) -> PaymentIntent | None:
    if not isinstance(provider_intent_id, str) or not provider_intent_id:
        return None
    return PaymentIntent.objects.select_for_update().filter(stripe_intent_id=provider_intent_id).first()


def _raise_status(intent: PaymentIntent, status: str) -> bool:
    if PaymentIntent.RANK[status] > PaymentIntent.RANK[intent.status]:
        intent.status = status
        return True
    return False


def intent_tenant_id(intent: PaymentIntent) -> Any:
    """The tenant whose app created the intent (its payment's money is that tenant's funds), or None."""
    if intent.app_id is None:
        return None
    return Application.objects.filter(pk=intent.app_id).values_list("owner_id", flat=True).first()


def _dispute_debit(intent: PaymentIntent) -> None:
    """Take back the disputed amount, or as much of it as the balance holds (of the intent's tenant's funds, for an
    app's intent: a dispute never takes another tenant's money). Runs once per intent."""
    if intent.dispute_entry_id is not None or intent.dispute_shortfall or not intent.disputed_amount:
        return
    account = lock_account(intent.account_id)
    tenant_id = intent_tenant_id(intent)
    available = account.balance
    if tenant_id is not None:
        available = min(available, tenant_funds_locked(account.pk, tenant_id))
    take = min(intent.disputed_amount, available)
    if take > 0:
        intent.dispute_entry = ledger_post(account_id=account.pk, type=DEBIT, amount=take,
                                           description=_("Dispute %(id)s") % {"id": intent.dispute_id},
                                           reference_id=str(intent.pk), tenant_id=tenant_id)
    intent.dispute_shortfall = intent.disputed_amount - take


@transaction.atomic
def payment_intent_apply_succeeded(obj: dict[str, Any]) -> str:
    intent = _locked_intent(obj.get("id"))
    if intent is None:
        return "ignored: no payment intent with this provider id"
    received = obj.get("amount_received", obj.get("amount"))
    if received is not None and int(received) != intent.amount:
        # Never credit a different amount silently: the event stays failed in the console until someone looks.
        raise Conflict(_("The provider received %(received)s cents for an intent of %(amount)d.")
                       % {"received": received, "amount": intent.amount}, code="amount_mismatch")
    changed = []
    if intent.credit_entry_id is None:
        intent.credit_entry = ledger_post(account_id=intent.account_id, type=CREDIT, amount=intent.amount,
                                          description=_("Payment %(id)s") % {"id": intent.stripe_intent_id},
                                          reference_id=str(intent.pk), tenant_id=intent_tenant_id(intent))
        changed.append("credited")
    before = intent.status
    if _raise_status(intent, PaymentIntent.Status.CONFIRMED):
        intent.confirmed_at = timezone.now()
        changed.append("confirmed")
    if intent.status == PaymentIntent.Status.DISPUTED:
        _dispute_debit(intent)
    if not changed:
        return "no change: already credited"
    intent.save()
    audit_record(events.PAYMENT_INTENT_CONFIRMED, action="confirm", target_type="payment_intent",
                 target_id=intent.pk, before={"status": before}, after={"status": intent.status},
                 metadata={"credit_entry_id": str(intent.credit_entry_id), "amount": intent.amount},
                 app_id=intent.app_id)
    notifications.intent_notify(intent, notifications.PAYMENT_INTENT_CONFIRMED)
    return "applied: " + ", ".join(changed)


@transaction.atomic
def payment_intent_apply_failed(obj: dict[str, Any]) -> str:
    intent = _locked_intent(obj.get("id"))
    if intent is None:
        return "ignored: no payment intent with this provider id"
    if intent.status != PaymentIntent.Status.PENDING:
        return f"no change: intent is {intent.status}"
    error = obj.get("last_payment_error") or {}
    intent.status = PaymentIntent.Status.FAILED
    intent.failure_reason = str(error.get("message") or error.get("code") or "")[:1000]
    intent.save()
    audit_record(events.PAYMENT_INTENT_FAILED, action="fail", target_type="payment_intent", target_id=intent.pk,
                 before={"status": PaymentIntent.Status.PENDING}, after={"status": intent.status},
                 metadata={"code": str(error.get("code") or "")}, app_id=intent.app_id)
    notifications.intent_notify(intent, notifications.PAYMENT_INTENT_FAILED)
    return "applied: failed"


@transaction.atomic
def payment_intent_apply_dispute(obj: dict[str, Any]) -> str:
    intent = _locked_intent(obj.get("payment_intent"))
    if intent is None:
        return "ignored: the dispute names no known payment intent"
    dispute_id = str(obj.get("id") or "")
    if intent.dispute_id and intent.dispute_id != dispute_id:
        return f"ignored: intent already disputed by {intent.dispute_id}"
    if intent.dispute_id == dispute_id:
        return "no change: dispute already recorded"
    amount = obj.get("amount")
    intent.dispute_id = dispute_id
    intent.disputed_amount = min(int(amount), intent.amount) if amount is not None else intent.amount
    before = intent.status
    _raise_status(intent, PaymentIntent.Status.DISPUTED)
    if intent.credit_entry_id is not None:
        _dispute_debit(intent)
    intent.save()
    audit_record(events.PAYMENT_INTENT_DISPUTED, action="dispute", target_type="payment_intent",
                 target_id=intent.pk, before={"status": before}, after={"status": intent.status},
                 metadata={"dispute_id": dispute_id, "disputed_amount": intent.disputed_amount,
                           "debit_entry_id": str(intent.dispute_entry_id) if intent.dispute_entry_id else None,
                           "shortfall": intent.dispute_shortfall},
                 app_id=intent.app_id)
    notifications.intent_notify(intent, notifications.PAYMENT_INTENT_DISPUTED)
    return "applied: disputed"


def local_succeeded_event(intent: PaymentIntent) -> dict[str, Any]:
    """The event Stripe would send when this intent succeeds, for the local provider."""
    return {
        "id": f"evt_local_{uuid.uuid4().hex}",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "data": {"object": {
            "id": intent.stripe_intent_id, "object": "payment_intent", "amount": intent.amount,
            "amount_received": intent.amount, "currency": intent.currency.lower(), "status": "succeeded",
            "metadata": {"intent_id": str(intent.pk), "account_id": str(intent.account_id)},
        }},
    }

