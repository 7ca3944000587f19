"""Billing's job handlers, registered with the jobs queue from ``BillingConfig.ready()``.

Delivery is at least once; every handler is idempotent on the state it reads.
"""
from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from billing import stripe_client
from billing.models import IdempotencyKey, PaymentIntent, ProcessedWebhook
from billing.services import payouts, reconcile, webhooks
from infrastructure.models import Job
from infrastructure.services.jobs import register_handler

PURGE_BATCH = 5000


def idempotency_purge(*, now=None) -> int:
    """Delete idempotency keys past their retention (``BILLING_IDEMPOTENCY_TTL_HOURS``, at least 24 h)."""
    now = now or timezone.now()
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(IdempotencyKey.objects.filter(expires_at__lt=now).values_list("pk", flat=True)[:PURGE_BATCH])
            if not ids:
                return deleted
            deleted += IdempotencyKey.objects.filter(pk__in=ids).delete()[0]


def stripe_sync(*, intent_id: str | None = None, event_id: str | None = None, retry_failed_since_hours: int = 72):
    """Bring provider state in: one intent (its events re-applied from the provider's view), one stored event, or
    every failed event of the last ``retry_failed_since_hours`` hours."""
    if event_id:
        return webhooks.webhook_retry(event_id=event_id)
    if intent_id:
        intent = PaymentIntent.objects.get(pk=intent_id)
        if not stripe_client.is_configured() or not intent.stripe_intent_id:
            return intent
        remote = stripe_client.payment_intent_retrieve(intent.stripe_intent_id)
        if remote.status == "succeeded":
            webhooks.webhook_process({
                "id": f"sync_{remote.id}_succeeded", "type": "payment_intent.succeeded",
                "data": {"object": {"id": remote.id, "amount": remote.amount,
                                    "amount_received": remote.amount_received or remote.amount}},
            })
        return intent
    since = timezone.now() - timedelta(hours=retry_failed_since_hours)
    failed = []
    for event_id_ in ProcessedWebhook.objects.filter(success=False, received_at__gte=since).values_list(
            "pk", flat=True):
        try:
            webhooks.webhook_retry(event_id=event_id_)
        except webhooks.WebhookFailed:
            failed.append(event_id_)  # recorded on its row; the next pass tries again
    return failed


def register() -> None:
    # Not atomic: each handler commits its own work (a payout is sent once, then marked; reconcile reads one
    # snapshot of its own) rather than inside the transaction that marks the job done.
    @register_handler("payout_send", max_attempts=10, atomic=False,
                      description="Send a released payout; a refusal credits its hold back.")
    def _payout_send(job: Job) -> None:
        payouts.payout_send(payout_id=job.payload["payout_id"])

    @register_handler("reconcile", max_attempts=3, atomic=False, lease_seconds=900,
                      description="Compare the ledger with balances and intents with Stripe; report differences.")
    def _reconcile(job: Job) -> None:
        reconcile.reconcile_run(since_days=int(job.payload.get("since_days", 7)))

    @register_handler("stripe_sync", max_attempts=5, atomic=False,
                      description="Bring an intent's or a failed event's state in from Stripe.")
    def _stripe_sync(job: Job) -> None:
        stripe_sync(intent_id=job.payload.get("intent_id"), event_id=job.payload.get("event_id"))

    @register_handler("idempotency_cleanup", max_attempts=3, atomic=False,
                      description="Delete idempotency keys past their retention (at least 24 h).")
    def _idempotency_cleanup(job: Job) -> None:
        idempotency_purge()
