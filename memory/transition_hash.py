"""The canonical form of a lifecycle transition. Pure Python, so that anyone can recompute it.

``hash = lowercase hex SHA-256(canonical || previous_hash)``, where ``canonical`` is the UTF-8 JSON object of the
transition's ``TRANSITION_FIELDS`` with keys sorted, no whitespace, non-ASCII written as itself; ids are lowercase
hyphenated UUID strings (``triggered_by`` may be ``null``), ``from_state`` is ``""`` for the opening transition,
``sequence`` an integer, ``created_at`` ISO 8601 UTC with six fractional digits and a ``Z``. ``previous_hash`` is
the hash of the decision's previous transition (by ``sequence``), 64 zeros for the first: each decision's
transitions form their own chain.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from audit.chain import format_time

GENESIS_HASH = "0" * 64
TRANSITION_FIELDS = ("id", "decision_id", "sequence", "from_state", "to_state", "triggered_by",
                     "triggered_by_type", "reason", "created_at")


def transition_content(row) -> dict[str, Any]:
    return {"id": str(row.id), "decision_id": str(row.decision_id), "sequence": row.sequence,
            "from_state": row.from_state or "", "to_state": row.to_state,
            "triggered_by": str(row.triggered_by) if row.triggered_by else None,
            "triggered_by_type": row.triggered_by_type, "reason": row.reason,
            "created_at": format_time(row.created_at)}


def canonical(content: dict[str, Any]) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def transition_hash(row, previous_hash: str) -> str:
    return hashlib.sha256(canonical(transition_content(row)) + previous_hash.encode("ascii")).hexdigest()
