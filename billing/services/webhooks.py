"""Provider events, each applied once: ``processed_webhooks`` holds one row per event id.

The row is created (or found) and locked first, so concurrent deliveries of one event wait for each other; an
event already applied (``success``) changes nothing. The handler runs in a savepoint: if it fails, its effects are
rolled back and the row records the failure (``success`` false), so the next delivery (Stripe retries for days) or
a ``stripe_sync`` job applies it again. Unknown event types are recorded and answered 200.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import errors
from billing.models import PaymentIntent, ProcessedWebhook, Provider
from billing.services import payments, subscriptions
from core.errors import Conflict, InvalidInput, NotFound, ServiceError

logger = logging.getLogger("prostqs.billing.webhooks")

Handler = Callable[[dict[str, Any]], str]

HANDLERS: dict[str, Handler] = {
    "payment_intent.succeeded": lambda event: payments.payment_intent_apply_succeeded(event["data"]["object"]),
    "payment_intent.payment_failed": lambda event: payments.payment_intent_apply_failed(event["data"]["object"]),
    "charge.dispute.created": lambda event: payments.payment_intent_apply_dispute(event["data"]["object"]),
    "customer.subscription.created": subscriptions.subscription_apply_event,
    "customer.subscription.updated": subscriptions.subscription_apply_event,
    "customer.subscription.deleted": subscriptions.subscription_apply_event,
    "invoice.payment_failed": subscriptions.subscription_apply_event,
    "invoice.paid": subscriptions.subscription_apply_event,
    "invoice.payment_succeeded": subscriptions.subscription_apply_event,
}

# Never kept: a payment intent's client secret lets its holder confirm the payment.
_SECRET_KEYS = {"client_secret"}


class WebhookFailed(ServiceError):
    """The event was recorded but its handler failed; it stays retryable."""

    status = 500
    code = errors.WEBHOOK_PROCESSING_FAILED
    message = "The event could not be applied; it will be retried."


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("[removed]" if k in _SECRET_KEYS else _scrub(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _validate(event: Any) -> tuple[str, str]:
    if not isinstance(event, dict):
        raise InvalidInput(_("The webhook body is not an event."), code=errors.INVALID_EVENT)
    event_id, event_type = event.get("id"), event.get("type")
    data = event.get("data")
    if (not isinstance(event_id, str) or not 0 < len(event_id) <= 255 or not isinstance(event_type, str)
            or not 0 < len(event_type) <= 128 or not isinstance(data, dict)
            or not isinstance(data.get("object"), dict)):
        raise InvalidInput(_("The webhook body is not an event."), code=errors.INVALID_EVENT)
    return event_id, event_type


def webhook_process(event: dict[str, Any], *, provider: str = Provider.STRIPE) -> ProcessedWebhook:
    """Apply one verified event at most once. Raises ``WebhookFailed`` (after recording it) if the handler fails."""
    event_id, event_type = _validate(event)
    failure: Exception | None = None
    with transaction.atomic():
        ProcessedWebhook.objects.bulk_create(
            [ProcessedWebhook(event_id=event_id, event_type=event_type, payload=_scrub(event), provider=provider)],
            ignore_conflicts=True,
        )
        row = ProcessedWebhook.objects.select_for_update().get(pk=event_id)
        if row.success:
            row.duplicate = True
            return row
        row.duplicate = False
        row.attempts += 1
        handler = HANDLERS.get(event_type)
        try:
            with transaction.atomic():
                detail = handler(event) if handler else "ignored: event type not handled"
        except Exception as exc:  # any failure keeps the event retryable; it is logged and recorded
            failure = exc
            if not isinstance(exc, ServiceError):
                logger.exception("webhook %s (%s) failed", event_id, event_type)
            row.success, row.outcome = False, ProcessedWebhook.Outcome.FAILED
            row.detail = f"{type(exc).__name__}: {exc}"[:2000]
        else:
            row.success = True
            row.outcome = (ProcessedWebhook.Outcome.IGNORED if detail.startswith("ignored")
                           else ProcessedWebhook.Outcome.APPLIED)
            row.detail = detail[:2000]
            row.processed_at = timezone.now()
        row.save(update_fields=["success", "outcome", "detail", "attempts", "processed_at"])
    if failure is not None:
        status = failure.status if isinstance(failure, ServiceError) else 500
        cause = failure.code if isinstance(failure, ServiceError) else "server_error"
        raise WebhookFailed(status=status, extra={"event_id": event_id, "cause": cause}) from failure
    return row


def webhook_retry(*, event_id: str) -> ProcessedWebhook:
    """Apply a recorded event that failed, from its stored payload (console action and ``stripe_sync`` job)."""
    row = ProcessedWebhook.objects.filter(pk=event_id).first()
    if row is None:
        raise NotFound(_("No such event."))
    if row.success:
        return row
    return webhook_process(row.payload, provider=row.provider)


def payment_intent_local_succeed(*, intent: PaymentIntent) -> ProcessedWebhook:
    """Confirm a local provider's intent through the same code path as a Stripe webhook."""
    if intent.provider != Provider.LOCAL:
        raise Conflict(_("Only intents of the local provider are confirmed from the console."),
                       code=errors.INTENT_STATE)
    if intent.credit_entry_id is not None:
        raise Conflict(_("This intent has already been credited."), code=errors.INTENT_STATE)
    return webhook_process(payments.local_succeeded_event(intent), provider=Provider.LOCAL)
