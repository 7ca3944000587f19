"""Events billing tells applications about, through their webhooks (``identity.services.webhooks``).

Each is queued inside the transaction of the change it reports, so an application hears of a change exactly when it
committed (and at least once). Only intents and payouts made through an application (``app_id``) are reported, to
that application. Data carries ids, amounts and statuses: never a client secret, and destinations masked.
"""
from __future__ import annotations

from typing import Any

from billing.destinations import mask
from billing.models import PaymentIntent, Payout
from identity.models import AppUser
from identity.services.webhooks import app_webhook_enqueue

PAYMENT_INTENT_CONFIRMED = "payment_intent.confirmed"
PAYMENT_INTENT_FAILED = "payment_intent.failed"
PAYMENT_INTENT_DISPUTED = "payment_intent.disputed"
PAYOUT_SENT = "payout.sent"
PAYOUT_FAILED = "payout.failed"


def _holder(app_id: Any, account) -> dict[str, Any]:
    external = (AppUser.objects.filter(app_id=app_id, user_id=account.user_id)
                .values_list("external_user_id", flat=True).first())
    return {"account_id": str(account.pk), "user_id": str(account.user_id), "external_user_id": external}


def _time(value) -> str | None:
    return value.isoformat() if value else None


def intent_notify(intent: PaymentIntent, type: str) -> None:
    if not intent.app_id:
        return
    app_webhook_enqueue(app_id=intent.app_id, type=type, data={
        "payment_intent_id": str(intent.pk), **_holder(intent.app_id, intent.account), "amount": intent.amount,
        "currency": intent.currency, "status": intent.status, "provider": intent.provider,
        "provider_id": intent.stripe_intent_id, "confirmed_at": _time(intent.confirmed_at),
        "failure_reason": intent.failure_reason or None, "dispute_id": intent.dispute_id or None,
        "disputed_amount": intent.disputed_amount or None,
    })


def payout_notify(payout: Payout, type: str) -> None:
    if not payout.app_id:
        return
    app_webhook_enqueue(app_id=payout.app_id, type=type, data={
        "payout_id": str(payout.pk), **_holder(payout.app_id, payout.account), "amount": payout.amount,
        "currency": payout.account.currency, "status": payout.status, "approval": payout.approval,
        "destination": mask(payout.destination), "destination_type": payout.destination_type,
        "provider_reference": payout.provider_reference or None, "failure_reason": payout.failure_reason or None,
        "sent_at": _time(payout.sent_at),
    })
