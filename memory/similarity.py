"""How alike a precedent is to a request: amount and context similarity, and the score that ranks precedents
beside an approval request. Pure computation over a precedent row: the selectors rank with it, nothing decides
with it."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from memory.models import DecisionPrecedent

AMOUNT_WEIGHT = 0.6
CONTEXT_WEIGHT = 0.4


def _is_uuid(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _facts(context: Any) -> dict[str, Any]:
    """The comparable part of a context: its ``facts`` when it has them (agents' requests and decisions do)."""
    if not isinstance(context, dict):
        return {}
    facts = context.get("facts")
    return facts if isinstance(facts, dict) else context


def _pairs(value: Any, prefix: str = "", depth: int = 0) -> set[tuple[str, str]]:
    """(path, JSON value) of every scalar, ids left out (they never match and say nothing about likeness)."""
    if isinstance(value, dict) and depth < 4:
        out: set[tuple[str, str]] = set()
        for key, item in value.items():
            out |= _pairs(item, f"{prefix}{key}.", depth + 1)
        return out
    if isinstance(value, (dict, list)) or _is_uuid(value):
        return set()
    return {(prefix.rstrip("."), json.dumps(value, sort_keys=True))}


def amount_similarity(a: int | None, b: int | None) -> float | None:
    """1 for equal amounts, falling towards 0 as they part: 1 - |a - b| / max(a, b)."""
    if a is None or b is None:
        return None
    if a == b:
        return 1.0
    return max(0.0, 1.0 - abs(a - b) / max(abs(a), abs(b)))


def context_similarity(a: Any, b: Any) -> float:
    """The share of facts (path and value) the two contexts have in common (Jaccard), 0 when either has none."""
    left, right = _pairs(_facts(a)), _pairs(_facts(b))
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)


@dataclass(frozen=True)
class SimilarPrecedent:
    precedent: DecisionPrecedent
    result: Any
    score: float
    amount_similarity: float | None
    context_similarity: float

    def as_dict(self) -> dict[str, Any]:
        return {"precedent_id": str(self.precedent.pk), "decision_id": str(self.precedent.original_decision_id),
                "domain": self.precedent.domain, "action": self.precedent.action, "state": self.precedent.state,
                "amount": self.precedent.amount, "result": self.result, "score": round(self.score, 4),
                "amount_similarity": None if self.amount_similarity is None else round(self.amount_similarity, 4),
                "context_similarity": round(self.context_similarity, 4),
                "created_at": self.precedent.created_at.isoformat()}


def precedent_score(precedent: DecisionPrecedent, *, amount: int | None, context: Any) -> SimilarPrecedent:
    try:
        snapshot = json.loads(precedent.original_context)
    except ValueError:
        snapshot = {}
    try:
        result = json.loads(precedent.observed_result)
    except ValueError:
        result = precedent.observed_result
    by_amount = amount_similarity(precedent.amount, amount)
    by_context = context_similarity(snapshot.get("context") if isinstance(snapshot, dict) else {}, context)
    score = by_context if by_amount is None else AMOUNT_WEIGHT * by_amount + CONTEXT_WEIGHT * by_context
    return SimilarPrecedent(precedent, result, score, by_amount, by_context)
