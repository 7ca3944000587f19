"""The hash of a lifecycle transition. Pure Python, so that anyone can recompute it.

``hash = core.integrity.chain.link_hash(content, previous_hash)`` (in format v2 ``"v2:" + hex SHA-256(RFC 8785
canonical JSON of the content || previous_hash)``; in v1, a bare hex digest over Python's canonical JSON), where
``content`` is the JSON object of the transition's ``TRANSITION_FIELDS``; ids are lowercase
hyphenated UUID strings (``triggered_by`` may be ``null``), ``from_state`` is ``""`` for the opening transition,
``sequence`` an integer, ``created_at`` ISO 8601 UTC with six fractional digits and a ``Z``. ``previous_hash`` is
the hash of the decision's previous transition (by ``sequence``), 64 zeros for the first: each decision's
transitions form their own chain.
"""
from __future__ import annotations

from typing import Any

from audit.chain import format_time
from core.integrity.chain import CURRENT_VERSION, GENESIS_HASH, link_hash

__all__ = ["GENESIS_HASH", "TRANSITION_FIELDS", "transition_content", "transition_hash"]
TRANSITION_FIELDS = ("id", "decision_id", "sequence", "from_state", "to_state", "triggered_by",
                     "triggered_by_type", "reason", "created_at")


def transition_content(row) -> dict[str, Any]:
    return {"id": str(row.id), "decision_id": str(row.decision_id), "sequence": row.sequence,
            "from_state": row.from_state or "", "to_state": row.to_state,
            "triggered_by": str(row.triggered_by) if row.triggered_by else None,
            "triggered_by_type": row.triggered_by_type, "reason": row.reason,
            "created_at": format_time(row.created_at)}


def transition_hash(row, previous_hash: str, version: int = CURRENT_VERSION) -> str:
    return link_hash(transition_content(row), previous_hash, version)
