"""The hash of an approval decision. Pure Python, so that anyone can recompute it.

A decision's content is its fields (``DECISION_FIELDS``) plus ``request``: the request's fields that never change
(``REQUEST_FIELDS``); ids as lowercase hyphenated UUID strings, times as ISO 8601 UTC with microseconds and a ``Z``.
``previous_hash`` is the hash of the request's previous decision (by ``sequence``), 64 zeros for the first, so the
decisions on one request form a chain:

- format v2 (``core.integrity.chain``): ``"v2:" + hex(sha256(RFC 8785 canonical JSON of the content ||
  previous_hash))``, as every chain;
- format v1 (decisions hashed before hashes carried a version, a bare hex digest): ``hex(sha256(json))`` where
  ``json`` is Python's canonical spelling of the content *with* ``previous_hash`` among its fields, and nothing
  appended (``decision_hash_v1``, kept unchanged to verify them).
"""
from __future__ import annotations

import hashlib
from typing import Any

from audit.chain import format_time
from core.integrity.canonical import legacy_json_v1
from core.integrity.chain import CURRENT_VERSION, GENESIS_HASH, link_hash

__all__ = ["DECISION_FIELDS", "GENESIS_HASH", "REQUEST_FIELDS", "decision_content", "decision_hash"]

DECISION_FIELDS = ("id", "request_id", "sequence", "authority_id", "decided_by", "decision", "justification", "ip",
                   "user_agent", "decided_at")
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
    """What a decision's hash covers (its ``previous_hash`` is the link, hashed after it)."""
    return {"id": str(decision.id), "request_id": str(decision.request_id), "sequence": decision.sequence,
            "authority_id": str(decision.authority_id), "decided_by": str(decision.decided_by_id),
            "decision": decision.decision, "justification": decision.justification, "ip": decision.ip,
            "user_agent": decision.user_agent, "decided_at": format_time(decision.decided_at),
            "request": request_content(request)}


def decision_hash(decision, request, version: int = CURRENT_VERSION) -> str:
    """The decision's hash in format ``version`` (a verifier passes the stored hash's)."""
    if version == 1:
        return decision_hash_v1(decision, request)
    return link_hash(decision_content(decision, request), decision.previous_hash, version)


def decision_hash_v1(decision, request) -> str:
    """Format v1, frozen: SHA-256 of Python's canonical JSON of the content with ``previous_hash`` inside."""
    content = {**decision_content(decision, request), "previous_hash": decision.previous_hash}
    return hashlib.sha256(legacy_json_v1(content).encode()).hexdigest()
