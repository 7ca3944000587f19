"""Reads of the audit log. Every function returns events in chain order (oldest first) unless it says otherwise."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db.models import Count, Min, QuerySet

from audit.models import AuditEvent, StagedEvent


def events_after(*, app_id: uuid.UUID | str | None, after_sequence: int = 0) -> QuerySet[AuditEvent]:
    """One application's chained events with ``sequence > after_sequence``: the feed an integrator polls.

    ``app_id=None`` means events recorded without an application, never "every application".
    """
    return AuditEvent.objects.filter(app_id=app_id, sequence__gt=after_sequence).order_by("sequence")


def events_for_target(target_type: str, target_id: Any) -> QuerySet[AuditEvent]:
    """Everything recorded about one object (e.g. ``("payment", intent.id)``)."""
    return AuditEvent.objects.filter(target_type=target_type, target_id=target_id).order_by("sequence")


def events_for_actor(actor_id: Any) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(actor_id=actor_id).order_by("sequence")


def chain_head() -> tuple[int, str] | None:
    """``(sequence, hash)`` of the last chained event, or ``None`` while the chain is empty."""
    return AuditEvent.objects.order_by("-sequence").values_list("sequence", "hash").first()


def staged_backlog() -> tuple[int, datetime | None]:
    """How many recorded events wait for the sequencer, and when the oldest of them was recorded."""
    row = StagedEvent.objects.aggregate(count=Count("id"), oldest=Min("created_at"))
    return row["count"], row["oldest"]
