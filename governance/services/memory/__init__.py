"""Institutional memory: decision lifecycles and their hashed transitions, conflicts, precedents and reviews.

Domains call ``lifecycle_open`` when a decision becomes active and ``lifecycle_transition`` (or
``lifecycle_end_if_in_force``) when it stops standing; everything else happens here. See README "Institutional
memory".
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from governance.services.memory.conflicts import (
    CONFLICT_TRANSITIONS,
    conflict_acknowledge,
    conflict_dissolve,
    conflict_kind,
    conflict_resolve,
    conflict_transition_is_legal,
    conflicts_detect,
)
from governance.services.memory.lifecycles import (
    LEGAL_TRANSITIONS,
    LifecycleSpec,
    expiry_condition,
    lifecycle_end_if_in_force,
    lifecycle_open,
    lifecycle_transition,
    lifecycles_expire,
    register_expiry_condition,
    review_interval,
    transition_is_legal,
    unregister_expiry_condition,
)
from governance.services.memory.precedents import (
    PRECEDENT_TRANSITIONS,
    SimilarPrecedent,
    precedent_record,
    precedent_set_state,
    precedent_transition_is_legal,
)
from governance.services.memory.reviews import (
    lifecycle_context_changed,
    policy_change_impacts,
    policy_change_reviews_open,
    review_decide,
    review_decide_problem,
    review_open,
    reviews_open_due,
)
from governance.services.memory.verify import ChainReport, verify_lifecycle_chains

TICK_JOB = "governance.memory_tick"


@dataclass(frozen=True)
class TickResult:
    expired: int
    reviews_opened: int


def memory_tick(*, now: datetime | None = None) -> TickResult:
    """The scheduled work: expire what is due, then open the reviews that are due."""
    now = now or timezone.now()
    expired = lifecycles_expire(now=now)
    return TickResult(expired=expired, reviews_opened=reviews_open_due(now=now))


__all__ = [
    "CONFLICT_TRANSITIONS",
    "LEGAL_TRANSITIONS",
    "PRECEDENT_TRANSITIONS",
    "TICK_JOB",
    "ChainReport",
    "LifecycleSpec",
    "SimilarPrecedent",
    "TickResult",
    "conflict_acknowledge",
    "conflict_dissolve",
    "conflict_kind",
    "conflict_resolve",
    "conflict_transition_is_legal",
    "conflicts_detect",
    "expiry_condition",
    "lifecycle_context_changed",
    "lifecycle_end_if_in_force",
    "lifecycle_open",
    "lifecycle_transition",
    "lifecycles_expire",
    "memory_tick",
    "policy_change_impacts",
    "policy_change_reviews_open",
    "precedent_record",
    "precedent_set_state",
    "precedent_transition_is_legal",
    "register_expiry_condition",
    "review_decide",
    "review_decide_problem",
    "review_interval",
    "review_open",
    "reviews_open_due",
    "transition_is_legal",
    "unregister_expiry_condition",
    "verify_lifecycle_chains",
]
