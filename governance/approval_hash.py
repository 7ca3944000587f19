"""The canonical form of an approval decision. Pure Python, so that anyone can recompute it.

``hash = sha256(canonical)`` in lowercase hex, where ``canonical`` is the JSON of the decision's fields
(``DECISION_FIELDS``) plus ``request``: the request's fields that never change (``REQUEST_FIELDS``), with keys
sorted, no whitespace, UTF-8, ids as lowercase hyphenated UUID strings, times as ISO 8601 UTC with microseconds
and a ``Z``. ``previous_hash`` is the hash of the request's previous decision (by ``sequence``), 64 zeros for
the first, so decisions on one request form a chain.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from audit.chain import format_time

GENESIS_HASH = "0" * 64

DECISION_FIELDS = ("id", "request_id", "sequence", "authority_id", "decided_by", "decision", "justification", "ip",
                   "user_agent", "decided_at", "previous_hash")
REQUEST_FIELDS = ("id", "domain", "action", "impact", "amount", "risk_score", "context", "requested_by",
                  "requested_by_type", "reference", "created_at")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def request_content(request) -> dict[str, Any]:
    return {"id": str(request.id), "domain": request.domain, "action": request.action, "impact": request.impact,
            "amount": request.amount, "risk_score": request.risk_score, "context": request.context,
            "requested_by": _text(request.requested_by), "requested_by_type": request.requested_by_type,
            "reference": request.reference, "created_at": format_time(request.created_at)}


def decision_content(decision, request) -> dict[str, Any]:
    return {"id": str(decision.id), "request_id": str(decision.request_id), "sequence": decision.sequence,
            "authority_id": str(decision.authority_id), "decided_by": str(decision.decided_by_id),
            "decision": decision.decision, "justification": decision.justification, "ip": decision.ip,
            "user_agent": decision.user_agent, "decided_at": format_time(decision.decided_at),
            "previous_hash": decision.previous_hash, "request": request_content(request)}


def canonical(content: dict[str, Any]) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def decision_hash(decision, request) -> str:
    return hashlib.sha256(canonical(decision_content(decision, request))).hexdigest()
