"""The chain's canonical form. Pure Python on purpose: the standalone verifier uses the same definition.

An event's hash is ``sha256(canonical(content) + previous_hash)`` in lowercase hex, where ``canonical`` is the
JSON serialisation of the event's fields (``CHAINED_FIELDS``) with keys sorted, no whitespace, UTF-8 (not ASCII
escaped), ids as lowercase hyphenated UUID strings, ``created_at`` as ISO 8601 UTC with microseconds and a ``Z``,
and absent values as ``null``. The first event's ``previous_hash`` is 64 zeros.
"""
from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64

CHAINED_FIELDS = (
    "id", "sequence", "type", "app_id", "actor_id", "actor_type", "target_id", "target_type", "action",
    "before", "after", "metadata", "policy_id", "reason", "ip", "user_agent", "created_at",
)


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(content: dict[str, Any]) -> bytes:
    """The bytes that are hashed, given the event's fields as JSON-ready values."""
    missing = [f for f in CHAINED_FIELDS if f not in content]
    if missing:
        raise ValueError(f"event content lacks {', '.join(missing)}")
    doc = {f: content[f] for f in CHAINED_FIELDS}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def event_hash(content: dict[str, Any], previous_hash: str) -> str:
    return hashlib.sha256(canonical(content) + previous_hash.encode("ascii")).hexdigest()
