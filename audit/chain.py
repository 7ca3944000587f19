"""The chain's canonical form and the check of one link. Pure Python on purpose: no Django import, so that the
definition is readable on its own and usable wherever the chain is checked.

An event's hash is ``sha256(canonical(content) + previous_hash)`` in lowercase hex. ``canonical`` is a JSON object
of the fields in ``CHAINED_FIELDS`` with keys sorted, no whitespace, UTF-8 (not ASCII-escaped), ids as lowercase
hyphenated UUID strings, ``created_at`` as ISO 8601 UTC with microseconds and a ``Z``, absent values as ``null``.
``before``, ``after`` and ``metadata`` are stored as text holding canonical JSON (``core.integrity.canonical``) and
enter the document exactly as stored, unquoted: the bytes hashed are the bytes in the database. The first event's
``previous_hash`` is 64 zeros. README.md ("Audit log") states the same rules for readers who do not read Python.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

GENESIS_HASH = "0" * 64

CHAINED_FIELDS = (
    "id", "sequence", "type", "app_id", "actor_id", "actor_type", "target_id", "target_type", "action",
    "before", "after", "metadata", "policy_id", "reason", "ip", "user_agent", "created_at",
)
# Held as canonical JSON text; embedded as is.
JSON_FIELDS = frozenset({"before", "after", "metadata"})

# What an export line holds: the chained content plus the two link fields.
EXPORT_FIELDS = (*CHAINED_FIELDS, "previous_hash", "hash")

# Problem kinds reported by verification (the command, the console and the standalone script use these words).
CONTENT_ALTERED = "content altered"
LINK_BROKEN = "link broken"
GAP = "gap"
CHECKPOINT_MISMATCH = "checkpoint mismatch"
TRUNCATED = "truncated"
BAD_CHECKPOINT = "bad checkpoint"

def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _string(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def _embedded(text: str | None) -> str:
    return "null" if text is None else text


# The document is filled in field by field, in sorted key order: it equals ``canonical_json`` of the object (with
# the JSON fields parsed) whenever those fields hold canonical JSON, and is several times faster, which bounds how
# fast the chain can be verified.
_TEMPLATE = (
    '{"action":%s,"actor_id":%s,"actor_type":%s,"after":%s,"app_id":%s,"before":%s,"created_at":%s,"id":%s,'
    '"ip":%s,"metadata":%s,"policy_id":%s,"reason":%s,"sequence":%d,"target_id":%s,"target_type":%s,"type":%s,'
    '"user_agent":%s}'
)


def canonical(content: dict[str, Any]) -> bytes:
    """The bytes that are hashed. ``content`` holds every field of ``CHAINED_FIELDS``: strings (or ``None``), the
    integer ``sequence``, and the JSON fields as their stored text (or ``None``)."""
    try:
        sequence = content["sequence"]
        if type(sequence) is not int:
            raise ValueError(f"sequence must be an integer, not {sequence!r}")
        return (_TEMPLATE % (
            _string(content["action"]), _string(content["actor_id"]), _string(content["actor_type"]),
            _embedded(content["after"]), _string(content["app_id"]), _embedded(content["before"]),
            _string(content["created_at"]), _string(content["id"]), _string(content["ip"]),
            _embedded(content["metadata"]), _string(content["policy_id"]), _string(content["reason"]), sequence,
            _string(content["target_id"]), _string(content["target_type"]), _string(content["type"]),
            _string(content["user_agent"]),
        )).encode()
    except KeyError as exc:
        raise ValueError(f"event content lacks {exc.args[0]}") from None


def event_hash(content: dict[str, Any], previous_hash: str) -> str:
    return hashlib.sha256(canonical(content) + previous_hash.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class Problem:
    """The first thing wrong with a chain: where (a sequence number), what kind, and the details."""

    sequence: int
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"sequence {self.sequence}: {self.kind} ({self.detail})"


def check_link(content: dict[str, Any], *, previous_hash: str, stored_hash: str,
               expected_sequence: int, expected_previous: str) -> Problem | None:
    """Check one event against the one before it (``expected_*`` come from the predecessor, or genesis).

    Order matters for the report: a missing sequence is a gap, a changed predecessor hash is a broken link, and only
    then is the event's own content recomputed.
    """
    sequence = content["sequence"]
    if sequence != expected_sequence:
        missing = (f"sequence {expected_sequence} is missing" if sequence > expected_sequence
                   else f"found {sequence} after {expected_sequence - 1}")
        return Problem(expected_sequence, GAP, f"{missing}; next present event is {sequence}")
    if previous_hash != expected_previous:
        return Problem(sequence, LINK_BROKEN,
                       f"previous_hash {previous_hash[:16]}… does not match the hash of the event before it "
                       f"{expected_previous[:16]}…")
    recomputed = event_hash(content, previous_hash)
    if recomputed != stored_hash:
        return Problem(sequence, CONTENT_ALTERED,
                       f"stored hash {stored_hash[:16]}… but the content hashes to {recomputed[:16]}…")
    return None


# Signed checkpoints: Ed25519 over these exact bytes (ASCII, each line ending in a newline).
CHECKPOINT_FORMAT = "prostqs-audit-checkpoint/1"


def checkpoint_message(sequence: int, hash: str, time: str) -> bytes:
    return f"{CHECKPOINT_FORMAT}\n{sequence}\n{hash}\n{time}\n".encode("ascii")
