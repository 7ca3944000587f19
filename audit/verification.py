"""Verification of the whole chain, streamed: memory stays constant however long the chain is.

Used by ``manage.py audit_verify``, the console's verification page and the bench. Reads only; the first problem
found ends the run (everything after a broken link is unproven anyway).
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import connection, connections
from django.db.models import TextField
from django.db.models.functions import Cast

from audit import chain, checkpoints
from audit.models import AuditEvent
from core.integrity.registry import Check, Problem

EXPORT_COLUMNS = ("id", "sequence", "type", "app_id", "actor_id", "actor_type", "target_id", "target_type", "action",
                  "before", "after", "metadata", "policy_id", "reason", "ip", "user_agent", "created_at",
                  "previous_hash", "hash")
CHUNK_SIZE = 5000


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _content(row: tuple) -> dict[str, Any]:
    """From an ORM row: ids and the timestamp as Python objects, the JSON fields as their stored text."""
    return {
        "id": str(row[0]), "sequence": row[1], "type": row[2], "app_id": _text(row[3]), "actor_id": _text(row[4]),
        "actor_type": row[5], "target_id": _text(row[6]), "target_type": row[7], "action": row[8],
        "before": row[9], "after": row[10], "metadata": row[11],
        "policy_id": _text(row[12]), "reason": row[13],
        "ip": row[14], "user_agent": row[15], "created_at": chain.format_time(row[16]),
    }


# PostgreSQL: ids and the timestamp come back as text in their canonical spelling and the JSON fields are canonical
# text already, which spares Python every conversion (verification speed is bounded by this loop).
_PG_READ = """
    SELECT id::text, sequence, type, app_id::text, actor_id::text, actor_type, target_id::text, target_type, action,
           before, after, metadata, policy_id::text, reason, ip, user_agent,
           to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), previous_hash, hash
    FROM audit_events WHERE sequence > %s ORDER BY sequence LIMIT %s
"""


def _pg_chunks(after_sequence: int, chunk_size: int) -> Iterator[list[tuple]]:
    last = after_sequence
    with connection.cursor() as cursor:
        while True:
            cursor.execute(_PG_READ, [last, chunk_size])
            rows = cursor.fetchall()
            if not rows:
                return
            yield rows
            last = rows[-1][1]


def _pg_chunks_read_ahead(after_sequence: int, chunk_size: int) -> Iterator[list[tuple]]:
    """The same chunks, fetched by a second thread (on its own connection) while this one hashes: the database's
    work and ours overlap. At most two chunks wait in the queue, so memory stays bounded."""
    chunks: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def fetch() -> None:
        try:
            for rows in _pg_chunks(after_sequence, chunk_size):
                while not stop.is_set():
                    try:
                        chunks.put(rows, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            chunks.put(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread, which raises it
            chunks.put(exc)
        finally:
            connections.close_all()  # this thread's connection only

    reader = threading.Thread(target=fetch, name="audit-verify-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = chunks.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


# The JSON fields as the text stored (a cast skips the field's parsing): the hash covers those exact bytes.
_STORED_TEXT = {f"{name}_text": Cast(name, output_field=TextField()) for name in chain.JSON_FIELDS}
_ORM_COLUMNS = tuple(f"{c}_text" if c in chain.JSON_FIELDS else c for c in EXPORT_COLUMNS)


def _orm_chunks(after_sequence: int, chunk_size: int) -> Iterator[list[tuple]]:
    last = after_sequence
    while True:
        rows = list(AuditEvent.objects.filter(sequence__gt=last).order_by("sequence").annotate(**_STORED_TEXT)
                    .values_list(*_ORM_COLUMNS)[:chunk_size])
        if not rows:
            return
        yield rows
        last = rows[-1][1]


def iter_chain(*, after_sequence: int = 0, chunk_size: int = CHUNK_SIZE) -> Iterator[tuple[dict[str, Any], str, str]]:
    """``(content, previous_hash, hash)`` of every chained event in sequence order, fetched in chunks by key (no
    long-lived cursor or transaction, so a long run does not hold back the database's cleanup)."""
    if connection.vendor == "postgresql":
        # Another connection cannot see the rows of a transaction still open here (a test under the db fixture).
        read = _pg_chunks if connection.in_atomic_block else _pg_chunks_read_ahead
        for rows in read(after_sequence, chunk_size):
            for r in rows:
                yield ({"id": r[0], "sequence": r[1], "type": r[2], "app_id": r[3], "actor_id": r[4],
                        "actor_type": r[5], "target_id": r[6], "target_type": r[7], "action": r[8],
                        "before": r[9], "after": r[10], "metadata": r[11], "policy_id": r[12], "reason": r[13],
                        "ip": r[14], "user_agent": r[15], "created_at": r[16]}, r[17], r[18])
        return
    for rows in _orm_chunks(after_sequence, chunk_size):
        for row in rows:
            yield _content(row), row[17], row[18]


@dataclass
class VerificationResult(Check):
    """The integrity registry's ``Check`` of the chain (at most one problem: the first break), with the head reached
    and the checkpoints held."""

    head_sequence: int = 0
    head_hash: str = chain.GENESIS_HASH
    checkpoints: int = 0
    seconds: float = 0.0
    checkpoint_dir: str = ""

    @property
    def problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    @problem.setter
    def problem(self, found: Problem) -> None:
        self.problems[:] = [found]

    @property
    def rate(self) -> float:
        return self.checked / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        if self.problem is not None:
            return f"audit chain broken at {self.problem}"
        text = (f"audit chain intact: {self.checked} events, head sequence {self.head_sequence} "
                f"hash {self.head_hash[:16]}…")
        if self.checkpoint_dir:
            text += f", {self.checkpoints} signed checkpoints hold"
        return text


def chain_verify(*, checkpoints_dir: Path | str | None = None, chunk_size: int = CHUNK_SIZE,
                 progress: Callable[[int, int], None] | None = None) -> VerificationResult:
    """Recompute every hash and link from sequence 1; with ``checkpoints_dir`` also check that every signed
    checkpoint's event is still there with the same hash (catches rewriting and truncation of the tail)."""
    started = time.perf_counter()
    result = VerificationResult()
    vouched: dict[int, list[checkpoints.Checkpoint]] = {}
    if checkpoints_dir is not None:
        result.checkpoint_dir = str(checkpoints_dir)
        try:
            found = checkpoints.load(Path(checkpoints_dir))
            trusted = checkpoints.trusted_public_keys()
            for checkpoint in found:
                checkpoints.check_signature(checkpoint, trusted)
        except checkpoints.CheckpointError as exc:
            result.problem = chain.chain_problem(exc.sequence, chain.BAD_CHECKPOINT, str(exc))
            result.seconds = time.perf_counter() - started
            return result
        result.checkpoints = len(found)
        for checkpoint in found:
            vouched.setdefault(checkpoint.sequence, []).append(checkpoint)
        if not found:
            result.notes.append(f"no checkpoint files in {checkpoints_dir}")

    total = AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first() or 0
    expected_sequence, expected_previous = 1, chain.GENESIS_HASH
    for content, previous_hash, stored_hash in iter_chain(chunk_size=chunk_size):
        problem = chain.check_link(content, previous_hash=previous_hash, stored_hash=stored_hash,
                                   expected_sequence=expected_sequence, expected_previous=expected_previous)
        sequence = content["sequence"]
        if problem is None and sequence in vouched:
            for checkpoint in vouched[sequence]:
                if checkpoint.hash != stored_hash:
                    problem = chain.chain_problem(sequence, chain.CHECKPOINT_MISMATCH,
                                            f"{checkpoint.path.name} signed hash {checkpoint.hash[:16]}… for this "
                                            f"event, the chain now holds {stored_hash[:16]}…")
        if problem is not None:
            result.problem = problem
            break
        result.checked += 1
        result.head_sequence, result.head_hash = sequence, stored_hash
        expected_sequence, expected_previous = sequence + 1, stored_hash
        if progress is not None and result.checked % chunk_size == 0:
            progress(result.checked, max(total, result.checked))
    else:
        beyond = [c for c in sorted(vouched) if c > result.head_sequence]
        if beyond:
            checkpoint = vouched[beyond[-1]][0]
            result.problem = chain.chain_problem(
                result.head_sequence + 1, chain.TRUNCATED,
                f"the chain ends at sequence {result.head_sequence} but {checkpoint.path.name} vouches for "
                f"sequence {checkpoint.sequence}: events were removed")
        vouched_genesis = [c for c in vouched.get(0, []) if c.hash != chain.GENESIS_HASH]
        if vouched_genesis and result.problem is None:
            result.problem = chain.chain_problem(0, chain.BAD_CHECKPOINT,
                                           f"{vouched_genesis[0].path.name} holds sequence 0 with a non-genesis hash")
    if progress is not None:
        progress(result.checked, max(total, result.checked))
    result.seconds = time.perf_counter() - started
    return result
