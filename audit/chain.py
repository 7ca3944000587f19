"""The audit log's document and the check of one link. Pure Python on purpose: no Django import, so that the
definition is readable on its own and usable wherever the chain is checked.

An event's hash is ``core.integrity.chain.link_hash(canonical(content), previous_hash)``: in format v2,
``"v2:" + hex(sha256(canonical(content) + previous_hash))``; in format v1 (events written before hashes carried a
version) the same digest without the prefix. ``canonical`` is a JSON object of the fields in ``CHAINED_FIELDS`` with
keys sorted, no whitespace, UTF-8 (not ASCII-escaped), ids as lowercase hyphenated UUID strings, ``created_at`` as
ISO 8601 UTC with microseconds and a ``Z``, absent values as ``null``. ``before``, ``after`` and ``metadata`` are
stored as text holding canonical JSON (RFC 8785 since v2, Python's spelling in v1) and enter the document exactly as
stored, unquoted: the bytes hashed are the bytes in the database, so both formats build the document the same way.
The first event's ``previous_hash`` is 64 zeros. docs/specs/audit-chain.md states the same rules for readers who do
not read Python.
"""
from __future__ import annotations

from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

from core.integrity import registry
from core.integrity.chain import (  # noqa: F401 - the chain's words
    CONTENT_ALTERED,
    CURRENT_VERSION,
    GAP,
    GENESIS_HASH,
    LINK_BROKEN,
    link_hash,
    link_problem,
)

CHAINED_FIELDS = (
    "id", "sequence", "type", "app_id", "actor_id", "actor_type", "target_id", "target_type", "action",
    "before", "after", "metadata", "policy_id", "reason", "ip", "user_agent", "created_at",
)
# Held as canonical JSON text; embedded as is.
JSON_FIELDS = frozenset({"before", "after", "metadata"})

# What an export line holds: the chained content plus the two link fields.
EXPORT_FIELDS = (*CHAINED_FIELDS, "previous_hash", "hash")

# Problem kinds reported by verification (the command, the console and the standalone script use these words):
# CONTENT_ALTERED, LINK_BROKEN and GAP, as every chain, and those of signed checkpoints.
CHECKPOINT_MISMATCH = "checkpoint mismatch"
TRUNCATED = "truncated"
BAD_CHECKPOINT = "bad checkpoint"


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _string(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def _embedded(text: str | None) -> str:
    return "null" if text is None else text


# The document is filled in field by field, in sorted key order: it equals RFC 8785 canonical JSON of the object
# (with the JSON fields parsed) whenever those fields hold it, and is several times faster, which bounds how fast the
# chain can be verified.
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


def event_hash(content: dict[str, Any], previous_hash: str, version: int = CURRENT_VERSION) -> str:
    return link_hash(canonical(content), previous_hash, version)


def chain_problem(sequence: int, kind: str, detail: str) -> registry.Problem:
    """The first thing wrong with a chain, in the integrity registry's shape: "sequence <n>: <kind> (<detail>)"."""
    return registry.Problem(f"sequence {sequence}", detail, kind=kind, sequence=sequence)


def check_link(content: dict[str, Any], *, previous_hash: str, stored_hash: str,
               expected_sequence: int, expected_previous: str) -> registry.Problem | None:
    """Check one event against the one before it (``expected_*`` come from the predecessor, or genesis): a gap, a
    broken link, then the content recomputed in the stored hash's format (``core.integrity.chain.link_problem``)."""
    sequence = content["sequence"]
    found = link_problem(sequence=sequence, previous_hash=previous_hash, stored_hash=stored_hash,
                         expected_sequence=expected_sequence, expected_previous=expected_previous,
                         recompute=lambda version: event_hash(content, previous_hash, version))
    if found is None:
        return None
    kind, detail = found
    if kind == GAP:
        return chain_problem(expected_sequence, GAP, f"{detail}; next present event is {sequence}")
    return chain_problem(sequence, kind, detail)


# Signed checkpoints: Ed25519 over these exact bytes (ASCII, each line ending in a newline).
CHECKPOINT_FORMAT = "prostqs-audit-checkpoint/1"


def checkpoint_message(sequence: int, hash: str, time: str) -> bytes:
    return f"{CHECKPOINT_FORMAT}\n{sequence}\n{hash}\n{time}\n".encode("ascii")
