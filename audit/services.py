"""Writes to the audit log.

``audit_record`` stages an event inside the caller's transaction: the event commits or rolls back with the change
it describes, and writers never wait on each other for a global lock. ``audit_sequence`` chains committed staged
events into ``audit_events`` in batches, one sequencer at a time across every process and machine.
"""
from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction

from audit import chain, context
from audit import events as event_types
from audit.models import AuditEvent, StagedEvent

logger = logging.getLogger("prostqs.audit")

# Any constant works; it only has to be the same for every sequencer of this database.
SEQUENCER_LOCK_KEY = 0x50524F53  # "PROS"


def _jsonable(value: Any) -> Any:
    """Plain JSON values, exactly as the database will give them back (so the hash can be recomputed)."""
    if value is None:
        return None
    # PostgreSQL refuses NUL in text and jsonb; it never carries meaning in an audit record.
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder).replace("\\u0000", ""))


def _uuid(value: Any) -> uuid.UUID | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def audit_record(
    type: str,
    *,
    action: str,
    target_type: str = "",
    target_id: Any = None,
    before: Any = None,
    after: Any = None,
    metadata: dict[str, Any] | None = None,
    reason: str = "",
    policy_id: Any = None,
    actor_id: Any = None,
    actor_type: str | None = None,
    app_id: Any = None,
) -> StagedEvent:
    """Record an audit event in the current transaction.

    ``type`` must be registered in ``audit.events``. Actor, app, IP and user agent default to the current request
    or task context (``audit.context``); pass them to override.
    """
    event_types.get(type)  # unknown types fail loudly
    ctx = context.current()
    staged = StagedEvent.objects.create(
        type=type,
        action=action,
        target_type=target_type,
        target_id=_uuid(target_id),
        before=_jsonable(before),
        after=_jsonable(after),
        metadata=_jsonable(metadata or {}),
        reason=(reason or "").replace("\x00", ""),
        policy_id=_uuid(policy_id),
        actor_id=_uuid(actor_id if actor_id is not None else ctx.actor_id),
        actor_type=actor_type or ctx.actor_type,
        app_id=_uuid(app_id if app_id is not None else ctx.app_id),
        ip=ctx.ip,
        user_agent=(ctx.user_agent or "").replace("\x00", ""),
    )
    if settings.AUDIT_SEQUENCE_ON_COMMIT:
        transaction.on_commit(_sequence_after_commit)
    return staged


def _sequence_after_commit() -> None:
    try:
        audit_sequence()
    except Exception:  # the event is safe in staging; the scheduled sequencer will chain it
        logger.exception("audit: sequencing after commit failed; the periodic sequencer will retry")


def _try_lock() -> bool:
    """Only one sequencer chains at a time (for the rest of this transaction)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SEQUENCER_LOCK_KEY])
            return bool(cursor.fetchone()[0])
    # SQLite: transactions start IMMEDIATE (settings), so holding this transaction already excludes other writers.
    return True


def content_of(event: StagedEvent | AuditEvent, *, event_id: uuid.UUID, sequence: int) -> dict[str, Any]:
    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    return {
        "id": str(event_id),
        "sequence": sequence,
        "type": event.type,
        "app_id": text(event.app_id),
        "actor_id": text(event.actor_id),
        "actor_type": event.actor_type,
        "target_id": text(event.target_id),
        "target_type": event.target_type,
        "action": event.action,
        "before": event.before,
        "after": event.after,
        "metadata": event.metadata,
        "policy_id": text(event.policy_id),
        "reason": event.reason,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "created_at": chain.format_time(event.created_at),
    }


def audit_sequence(*, batch_size: int = 2000) -> int:
    """Chain committed staged events, oldest first. Returns how many were chained (0 if another sequencer runs)."""
    chained = 0
    while True:
        with transaction.atomic():
            if not _try_lock():
                return chained
            staged = list(StagedEvent.objects.order_by("id")[:batch_size])
            if not staged:
                return chained
            head = AuditEvent.objects.order_by("-sequence").values_list("sequence", "hash").first()
            sequence, previous = head if head else (0, chain.GENESIS_HASH)
            rows = []
            for item in staged:
                sequence += 1
                content = content_of(item, event_id=item.event_id, sequence=sequence)
                digest = chain.event_hash(content, previous)
                rows.append(AuditEvent(
                    id=item.event_id, sequence=sequence, previous_hash=previous, hash=digest,
                    **{f.name: getattr(item, f.name) for f in StagedEvent._meta.fields
                       if f.name not in ("id", "event_id")},
                ))
                previous = digest
            AuditEvent.objects.bulk_create(rows)
            StagedEvent.objects.filter(id__in=[s.id for s in staged]).delete()
            chained += len(rows)
        if len(staged) < batch_size:
            return chained
