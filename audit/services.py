"""Writes to the audit log.

``audit_record`` stages an event inside the caller's transaction: the event commits or rolls back with the change
it describes, and writers never wait on each other for a global lock. ``audit_sequence`` chains committed staged
events into ``audit_events`` in batches, one sequencer at a time across every process and machine.

Sequencing on PostgreSQL uses two advisory locks. ``SEQUENCER_LOCK_KEY`` is held by the one sequencer that chains,
from before it reads the staging table until after its transaction commits. A caller that cannot take it tries
``WAITER_LOCK_KEY``: the one that gets it waits for the running sequencer to finish and then chains, so an event
committed while another sequencer was finishing is chained at once instead of waiting for the next commit or the
periodic task. The waiter gives up its place as soon as it holds the sequencer lock and before it reads the staging
table; a caller that finds the waiter's place taken can therefore leave, because that waiter will read the staging
table after this caller's commit.
"""
from __future__ import annotations

import json
import logging
import math
import threading
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, NotSupportedError, connection, transaction
from django.utils import timezone

from audit import chain, checkpoints, context, selectors, verification
from audit import events as event_types
from audit.models import ActorType, AuditEvent, StagedEvent
from core.db import prepared_cursor
from core.integrity.canonical import canonical_json

logger = logging.getLogger("prostqs.audit")

# Any constants work; they only have to be the same for every sequencer of this database.
SEQUENCER_LOCK_KEY = 0x50524F53  # "PROS"
WAITER_LOCK_KEY = 0x50524F54
# How long the waiting sequencer waits for the running one before leaving the work to the periodic task.
WAITER_LOCK_TIMEOUT = "10s"
BATCH_SIZE = 1000


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _without_surrogates(value: str) -> str:
    # Lone surrogates cannot be encoded in UTF-8; they carry no meaning in an audit record, and refusing them would
    # make the audited operation itself fail.
    return value if _encodable(value) else value.encode("utf-8", "replace").decode("utf-8")


def _clean_text(value: str) -> str:
    """For the plain text columns: PostgreSQL refuses NUL in text. (Inside JSON a NUL is escaped and kept.)"""
    if "\x00" in value:
        value = value.replace("\x00", "")
    return _without_surrogates(value)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return _without_surrogates(value)
    if isinstance(value, dict):
        return {_without_surrogates(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN or infinity
    return value


def _jsonable(value: Any) -> Any:
    """Plain JSON values (dates, UUIDs and decimals become strings, as ``DjangoJSONEncoder`` writes them)."""
    if value is None:
        return None
    return _clean(json.loads(json.dumps(value, cls=DjangoJSONEncoder)))


def _json_text(value: Any) -> str | None:
    """The canonical JSON text stored (and hashed) for a payload."""
    if value is None:
        return None
    try:
        text = canonical_json(value)  # the common case: already plain JSON values
        if _encodable(text):
            return text
    except (TypeError, ValueError):  # dates, UUIDs, decimals, NaN
        pass
    return canonical_json(_jsonable(value))


def _uuid(value: Any) -> uuid.UUID | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


STAGE_COLUMNS = ("event_id", "type", "app_id", "actor_id", "actor_type", "target_id", "target_type", "action",
                 "before", "after", "metadata", "policy_id", "reason", "ip", "user_agent", "created_at")
_STAGE_SQL = ("INSERT INTO audit_staging (" + ", ".join(STAGE_COLUMNS) + ") "
              "VALUES (" + ", ".join(["%s"] * len(STAGE_COLUMNS)) + ")")
_UUID_FIELD = StagedEvent._meta.get_field("event_id")
_STAGED_FIELDS = [field.attname for field in StagedEvent._meta.concrete_fields]
_TIME_FIELD = StagedEvent._meta.get_field("created_at")


def _stage(values: dict[str, Any]) -> int:
    """Insert one staged row; return its id. Plain SQL: this runs inside every audited service call, and the ORM's
    per-instance machinery costs more than the insert itself."""
    with prepared_cursor() as cursor:
        if connection.features.can_return_columns_from_insert:
            cursor.execute(_STAGE_SQL + " RETURNING id", stage_params(values))
            return cursor.fetchone()[0]
        cursor.execute(_STAGE_SQL, stage_params(values))
        return cursor.lastrowid


def audit_event_values(
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
) -> dict[str, Any]:
    """The staged row of an event, keyed by ``STAGE_COLUMNS``: checked, its actor, app, IP and user agent taken from
    the current request or task context (``audit.context``) unless given, its JSON as canonical text."""
    event_types.get(type)  # unknown types fail loudly
    if not action:
        raise ValueError("an audit event needs an action")
    if actor_type is not None and actor_type not in ActorType.values:
        raise ValueError(f"unknown audit actor type {actor_type!r}; use one of {', '.join(ActorType.values)}")
    ctx = context.current()
    return {
        "event_id": uuid.uuid4(),
        "type": type,
        "app_id": _uuid(app_id if app_id is not None else ctx.app_id),
        "actor_id": _uuid(actor_id if actor_id is not None else ctx.actor_id),
        "actor_type": actor_type or ctx.actor_type,
        "target_id": _uuid(target_id),
        "target_type": _clean_text(target_type or ""),
        "action": _clean_text(action),
        "before": _json_text(before),
        "after": _json_text(after),
        "metadata": _json_text(metadata or {}),
        "policy_id": _uuid(policy_id),
        "reason": _clean_text(reason or ""),
        "ip": ctx.ip,
        "user_agent": _clean_text(ctx.user_agent or ""),
        "created_at": timezone.now(),
    }


def stage_params(values: dict[str, Any]) -> list[Any]:
    """``values`` as query parameters in ``STAGE_COLUMNS`` order, for a caller that stages the row in a statement
    of its own (the ledger writes an entry, its balance and its event in one)."""
    params = []
    for column in STAGE_COLUMNS:
        value = values[column]
        if column in ("event_id", "app_id", "actor_id", "target_id", "policy_id"):
            value = _UUID_FIELD.get_db_prep_value(value, connection)
        elif column == "created_at":
            value = _TIME_FIELD.get_db_prep_value(value, connection)
        params.append(value)
    return params


def audit_staged() -> None:
    """Call after staging an event in the current transaction: it is chained once the transaction commits (or by
    the periodic sequencer with ``AUDIT_SEQUENCE_ON_COMMIT=false``)."""
    if settings.AUDIT_SEQUENCE_ON_COMMIT:
        _sequence_once_after_commit()


def audit_record(type: str, *, action: str, **fields: Any) -> StagedEvent:
    """Record an audit event in the current transaction; return the staged row.

    ``type`` must be registered in ``audit.events``; the other fields are ``audit_event_values``'s. Actor, app, IP
    and user agent default to the current request or task context. The event is chained (gets its ``sequence`` and
    ``hash``) after the transaction commits; if the transaction rolls back, the event never existed.
    """
    values = audit_event_values(type, action=action, **fields)
    staged_id = _stage(values)
    audit_staged()
    row = {"id": staged_id, **{k: (json.loads(v) if k in chain.JSON_FIELDS and v is not None else v)
                               for k, v in values.items()}}
    # The instance of the row just stored, as the ORM builds one it read.
    return StagedEvent.from_db(connection.alias, _STAGED_FIELDS, [row[name] for name in _STAGED_FIELDS])


def _sequence_once_after_commit() -> None:
    """One sequencing run per transaction, however many events it records."""
    pending = transaction.get_connection().run_on_commit
    if not any(entry[1] is _sequence_after_commit for entry in pending):
        transaction.on_commit(_sequence_after_commit)


def _sequence_after_commit() -> None:
    try:
        audit_sequence()
    except Exception:  # the event is safe in staging; the periodic sequencer will chain it
        logger.exception("audit: sequencing after commit failed; the periodic sequencer will retry")


def content_of(event: StagedEvent | AuditEvent, *, event_id: uuid.UUID, sequence: int) -> dict[str, Any]:
    """The chained content of an event, as read from the database (see ``audit.chain``)."""
    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    def stored(value: Any) -> str | None:  # the field's canonical text, as the database holds it
        return None if value is None else canonical_json(value)

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
        "before": stored(event.before),
        "after": stored(event.after),
        "metadata": stored(event.metadata),
        "policy_id": text(event.policy_id),
        "reason": event.reason,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "created_at": chain.format_time(event.created_at),
    }


_COPIED = [f.name for f in StagedEvent._meta.concrete_fields if f.name not in ("id", "event_id")]

# PostgreSQL: the staged rows are read as text (ids and the timestamp in their canonical spelling; the JSON fields
# are canonical text already), hashed, and copied into audit_events by the database itself, so the bytes hashed are
# exactly the bytes stored and no event's content travels back through Python.
_PG_READ_STAGED = """
    SELECT id, event_id::text, type, app_id::text, actor_id::text, actor_type, target_id::text, target_type, action,
           before, after, metadata, policy_id::text, reason, ip, user_agent,
           to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    FROM audit_staging ORDER BY id LIMIT %s
"""
_PG_CHAIN_STAGED = """
    INSERT INTO audit_events (id, sequence, type, app_id, actor_id, actor_type, target_id, target_type, action,
                              before, after, metadata, policy_id, reason, ip, user_agent, created_at,
                              previous_hash, hash)
    SELECT s.event_id, v.sequence, s.type, s.app_id, s.actor_id, s.actor_type, s.target_id, s.target_type, s.action,
           s.before, s.after, s.metadata, s.policy_id, s.reason, s.ip, s.user_agent, s.created_at,
           v.previous_hash, v.hash
    FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[]) AS v(staged_id, sequence, previous_hash, hash)
    JOIN audit_staging s ON s.id = v.staged_id
    ORDER BY v.sequence
"""


def _chain_batch_postgresql(batch_size: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(_PG_READ_STAGED, [batch_size])
        staged = cursor.fetchall()
        if not staged:
            return 0
        cursor.execute("SELECT sequence, hash FROM audit_events ORDER BY sequence DESC LIMIT 1")
        head = cursor.fetchone()
        sequence, previous = head if head else (0, chain.GENESIS_HASH)
        ids, sequences, previous_hashes, hashes = [], [], [], []
        for row in staged:
            sequence += 1
            content = {
                "id": row[1], "sequence": sequence, "type": row[2], "app_id": row[3], "actor_id": row[4],
                "actor_type": row[5], "target_id": row[6], "target_type": row[7], "action": row[8],
                "before": row[9], "after": row[10], "metadata": row[11], "policy_id": row[12],
                "reason": row[13], "ip": row[14], "user_agent": row[15], "created_at": row[16],
            }
            digest = chain.event_hash(content, previous)
            ids.append(row[0])
            sequences.append(sequence)
            previous_hashes.append(previous)
            hashes.append(digest)
            previous = digest
        cursor.execute(_PG_CHAIN_STAGED, [ids, sequences, previous_hashes, hashes])
        if cursor.rowcount != len(ids):
            raise DatabaseError(f"audit: chained {cursor.rowcount} of {len(ids)} staged events")
        cursor.execute("DELETE FROM audit_staging WHERE id = ANY(%s::bigint[])", [ids])
    return len(ids)


def _chain_batch(batch_size: int) -> int:
    """Chain up to ``batch_size`` staged events, in one transaction, while the caller holds the sequencer lock.

    The database is the second guard: an event's id (its staged event id), sequence and hash are unique, and a
    trigger refuses an event whose predecessor is not ``sequence - 1`` with ``hash = previous_hash``.
    """
    if connection.vendor == "postgresql":
        return _chain_batch_postgresql(batch_size)
    # Elsewhere (SQLite, the embedded default) through the ORM, from rows read back from the database (never from the
    # caller's objects). Re-spelling a parsed canonical text gives the same text back.
    staged = list(StagedEvent.objects.order_by("id")[:batch_size])
    if not staged:
        return 0
    head = AuditEvent.objects.order_by("-sequence").values_list("sequence", "hash").first()
    sequence, previous = head if head else (0, chain.GENESIS_HASH)
    rows = []
    for item in staged:
        sequence += 1
        digest = chain.event_hash(content_of(item, event_id=item.event_id, sequence=sequence), previous)
        rows.append(AuditEvent(id=item.event_id, sequence=sequence, previous_hash=previous, hash=digest,
                               **{name: getattr(item, name) for name in _COPIED}))
        previous = digest
    AuditEvent.objects.bulk_create(rows)
    StagedEvent.objects.filter(id__in=[item.id for item in staged]).delete()
    return len(rows)


def _pg_lock(cursor, function: str, key: int) -> bool:
    cursor.execute(f"SELECT {function}(%s)", [key])
    return bool(cursor.fetchone()[0])


# Set while a thread of this process holds the waiter's place and has not yet read the staging table. Another
# thread of the process that just committed can then leave without a single query: the waiter reads after it.
_waiting_here = threading.Event()


def _sequence_step(batch_size: int, *, wait_in_line: bool) -> int | None:
    """One batch. ``None`` when another sequencer is in charge of what is staged now."""
    vendor = connection.vendor
    if vendor == "sqlite":
        # Transactions start IMMEDIATE (settings): holding one already excludes every other writer.
        with transaction.atomic():
            return _chain_batch(batch_size)
    if vendor != "postgresql":
        raise NotSupportedError(f"the audit sequencer is not written for {vendor}")
    if connection.in_atomic_block:
        # Inside the caller's transaction (a test under the ``db`` fixture, a data migration): the lock must last
        # until that transaction ends, or a sequencer elsewhere could chain on top of rows not yet committed.
        with transaction.atomic(), connection.cursor() as cursor:
            if _pg_lock(cursor, "pg_try_advisory_xact_lock", SEQUENCER_LOCK_KEY):
                return _chain_batch(batch_size)
        return None
    if wait_in_line and _waiting_here.is_set():
        return None
    # A session lock, taken and released outside the chaining transaction: trying it costs one round trip, which
    # every committer pays while another sequencer runs. It is released only after the commit.
    with connection.cursor() as cursor:
        if _pg_lock(cursor, "pg_try_advisory_lock", SEQUENCER_LOCK_KEY):
            return _chain_and_unlock(batch_size)
        if not wait_in_line or not _pg_lock(cursor, "pg_try_advisory_lock", WAITER_LOCK_KEY):
            return None  # someone already waits, and will read the staging table after our commit
    _waiting_here.set()
    in_line = True
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{WAITER_LOCK_TIMEOUT}'")
            cursor.execute("SELECT pg_advisory_lock(%s)", [SEQUENCER_LOCK_KEY])
        # Give up the place before reading: whoever finds it taken from now on committed before our read.
        _waiting_here.clear()
        _unlock(WAITER_LOCK_KEY)
        in_line = False
    finally:
        _waiting_here.clear()
        if in_line:
            _unlock(WAITER_LOCK_KEY)
    return _chain_and_unlock(batch_size)


def _unlock(key: int) -> None:
    try:
        with connection.cursor() as cursor:
            _pg_lock(cursor, "pg_advisory_unlock", key)
    except DatabaseError:
        # A session lock must never outlive its holder's intent: dropping the connection releases it.
        connection.close()


def _chain_and_unlock(batch_size: int) -> int:
    try:
        with transaction.atomic():
            return _chain_batch(batch_size)
    finally:
        _unlock(SEQUENCER_LOCK_KEY)


def audit_sequence(*, batch_size: int = BATCH_SIZE) -> int:
    """Chain committed staged events, oldest first; return how many this call chained.

    Safe to call from any number of processes at once: one chains, at most one more waits for it, the others return
    0 at once because the one in charge will see their events. Call it outside a transaction (after commit): inside
    one, the sequencer lock would be held until that transaction ends.
    """
    chained = 0
    wait_in_line = True
    while True:
        count = _sequence_step(batch_size, wait_in_line=wait_in_line)
        if count is None:
            return chained
        chained += count
        if count < batch_size:
            return chained
        # Later batches only drain what was already staged: whoever holds the lock next reads it too.
        wait_in_line = False


def checkpoint_sign(*, directory: Path | str | None = None) -> checkpoints.Checkpoint:
    """Chain what is staged, sign the head ``(sequence, hash, time)`` and write it to ``directory``
    (``AUDIT_CHECKPOINT_DIR`` by default), then record that it did. Refuses without a signing key."""
    key = checkpoints.signing_key()  # before anything else: no key, no checkpoint
    audit_sequence()
    sequence, digest = selectors.chain_head() or (0, chain.GENESIS_HASH)
    checkpoint = checkpoints.sign(sequence=sequence, hash=digest, time=chain.format_time(timezone.now()), key=key)
    path = checkpoints.write(checkpoint, Path(directory or settings.AUDIT_CHECKPOINT_DIR))
    with transaction.atomic():
        audit_record(event_types.AUDIT_CHECKPOINT_SIGNED, action="sign", target_type="audit_chain",
                     after={"sequence": sequence, "hash": digest, "time": checkpoint.time},
                     metadata={"key_id": checkpoint.key_id, "file": path.name})
    return replace(checkpoint, path=path)


def chain_verify_recorded(*, checkpoints_dir: Path | str | None = None) -> verification.VerificationResult:
    """Verify the chain (see ``audit.verification.chain_verify``) and record who ran it and what it found."""
    audit_sequence()
    result = verification.chain_verify(checkpoints_dir=checkpoints_dir)
    problem = result.problem
    with transaction.atomic():
        audit_record(event_types.AUDIT_VERIFIED, action="verify", target_type="audit_chain",
                     after={"ok": result.ok, "checked": result.checked, "head_sequence": result.head_sequence,
                            "checkpoints": result.checkpoints},
                     metadata={"problem": None if problem is None else
                               {"sequence": problem.sequence, "kind": problem.kind, "detail": problem.detail}})
    return result
