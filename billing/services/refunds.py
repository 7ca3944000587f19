"""Refunds: giving back (part of) a payment. One service for the API, the console and agents.

Only a **payment credit** is refundable: the ledger entry that credited a confirmed payment intent. Holds of
payouts, their reversals, ad spend, dispute debits, corrections, manual adjustments and transfers are not: each has
its own path (a payout fails or is rejected and its hold is credited back; a dispute is decided by the provider),
and "refunding" one would create or destroy money. No debit is refundable today, because every debit a tenant's
operation makes is one of those.

A refund is a debit that corrects the payment's credit: of the same tenant, limited to what is left of the payment
(the cumulative cap, counted under the account's row lock, so concurrent refunds never exceed it) and to the
tenant's funds in the account (money already spent is not refunded twice).
"""
from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from audit.services import audit_record
from billing import errors, events
from billing.models import LedgerEntry, PaymentIntent, Payout
from billing.services.ledger import DEBIT, ledger_post, lock_account, validate_amount
from core.errors import InvalidInput, NotFound

MAX_REASON = 500


def entry_kind(entry: LedgerEntry) -> str:
    """What an entry is, for refunds and the console: payment, refund, dispute, payout_hold, payout_reversal,
    ad_spend, correction, adjustment, transfer, credit or debit."""
    if Payout.objects.filter(reversal_entry=entry).exists():
        return "payout_reversal"
    if entry.corrects_id is not None:
        is_refund = PaymentIntent.objects.filter(credit_entry_id=entry.corrects_id).exists()
        return "refund" if is_refund else "correction"
    if PaymentIntent.objects.filter(credit_entry=entry).exists():
        return "payment"
    if PaymentIntent.objects.filter(dispute_entry=entry).exists():
        return "dispute"
    if Payout.objects.filter(hold_entry=entry).exists():
        return "payout_hold"
    if hasattr(entry, "ad_spend_event"):
        return "ad_spend"
    if entry.reference_id == "adjustment":
        return "adjustment"
    if entry.reference_id.startswith("transfer:"):
        return "transfer"
    return entry.type


def refundable_left(entry: LedgerEntry) -> int:
    """What is left of an entry to refund (its amount less every correction of it)."""
    corrected = LedgerEntry.objects.filter(corrects=entry).aggregate(total=Sum("amount"))["total"] or 0
    return entry.amount - corrected


def refund_check(entry: LedgerEntry, *, tenant_id: Any = None) -> PaymentIntent:
    """The payment whose credit ``entry`` is, if a refund of it may be asked for; else 400 ``entry_not_refundable``
    (404 for a tenant that did not make the entry)."""
    if tenant_id is not None and str(entry.tenant_id) != str(tenant_id):
        raise NotFound(_("Ledger entry not found."), code=errors.LEDGER_ENTRY_NOT_FOUND)
    intent = PaymentIntent.objects.filter(credit_entry=entry).first() if entry.corrects_id is None else None
    if intent is None:
        raise InvalidInput(
            _("Only a payment's credit can be refunded; this entry is a %(kind)s.") % {"kind": entry_kind(entry)},
            code=errors.ENTRY_NOT_REFUNDABLE, fields={"entry_id": [_("Not a payment's credit.")]})
    return intent


@transaction.atomic
def refund_create(*, entry_id: Any, amount: int | None = None, tenant_id: Any = None, reason: str = "",
                  actor_id: Any = None, actor_type: str | None = None, reference_id: str = "") -> LedgerEntry:
    """Refund ``amount`` cents (default: all that is left) of the payment credited by ``entry_id``.

    ``tenant_id`` is the tenant asking (an app, or an agent of the tenant): it must be the entry's tenant, and its
    funds must cover the refund. Staff (``tenant_id`` None, the console) may refund any payment credit; the refund
    still moves the payment's tenant's funds. Returns the refund's ledger entry (a debit that corrects the credit).
    """
    if amount is not None:
        amount = validate_amount(amount)
    reason = (reason or "").strip()[:MAX_REASON]
    try:
        pk = entry_id if isinstance(entry_id, uuid.UUID) else uuid.UUID(str(entry_id))
    except (ValueError, TypeError, AttributeError):
        pk = None
    entry = LedgerEntry.objects.filter(pk=pk).first() if pk else None
    if entry is None:
        raise NotFound(_("Ledger entry not found."), code=errors.LEDGER_ENTRY_NOT_FOUND)
    intent = refund_check(entry, tenant_id=tenant_id)
    # The account's row lock serialises every correction of the entry: the cap below is the cap in force.
    lock_account(entry.account_id)
    left = refundable_left(entry)
    if left <= 0:
        raise InvalidInput(_("This payment has already been refunded in full."), code=errors.INVALID_CORRECTION,
                           extra={"remaining": 0})
    amount = left if amount is None else amount
    if amount > left:
        raise InvalidInput(_("Only %(remaining)d cents of this payment are left to refund.") % {"remaining": left},
                           code=errors.INVALID_CORRECTION, fields={"amount": [_("At most %(n)d.") % {"n": left}]},
                           extra={"remaining": left})
    refund = ledger_post(account_id=entry.account_id, type=DEBIT, amount=amount,
                         description=_("Refund of payment %(id)s") % {"id": intent.stripe_intent_id},
                         reference_id=reference_id or str(intent.pk), corrects=entry)
    audit_record(events.REFUND_POSTED, action="refund", target_type="payment_intent", target_id=intent.pk,
                 after={"refund_entry_id": str(refund.pk), "amount": amount, "remaining": left - amount},
                 metadata={"entry_id": str(entry.pk), "account_id": str(entry.account_id),
                           "tenant_id": str(entry.tenant_id) if entry.tenant_id else None},
                 reason=reason, actor_id=actor_id, actor_type=actor_type, app_id=intent.app_id)
    return refund
