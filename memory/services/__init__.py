"""Institutional memory: decision lifecycles and their hashed transitions, conflicts, precedents and reviews.

Domains call ``lifecycle_open`` when a decision becomes active and ``lifecycle_transition`` (or
``lifecycle_end_if_in_force``) when it stops standing; everything else happens here. Governance's own decisions
(authority grants, policy changes) reach memory through the listeners of ``listeners``, registered with
``governance.callbacks``.

Inside, the modules import one another in one direction only: ``consequences`` (what a transition sets off by
itself) ← ``lifecycles`` ← ``conflicts``, ``reviews`` ← ``listeners``; ``precedents`` and ``verify`` stand apart.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from memory.services.conflicts import (
    CONFLICT_TRANSITIONS,
    conflict_acknowledge,
    conflict_dissolve,
    conflict_resolve,
    conflict_transition_is_legal,
)
from memory.services.consequences import conflict_kind, conflicts_detect
from memory.services.lifecycles import (
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
from memory.services.precedents import (
    PRECEDENT_TRANSITIONS,
    precedent_record,
    precedent_set_state,
    precedent_transition_is_legal,
)
from memory.services.reviews import (
    lifecycle_context_changed,
    policy_change_impacts,
    policy_change_reviews_open,
    review_decide,
    review_open,
    reviews_open_due,
)
from memory.services.verify import ChainReport, verify_lifecycle_chains
from memory.similarity import SimilarPrecedent

# The job type and the Celery task keep the name they had when memory lived in the governance app: queued jobs
# and deployed beat schedules name them.
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
    "review_interval",
    "review_open",
    "reviews_open_due",
    "transition_is_legal",
    "unregister_expiry_condition",
    "verify_lifecycle_chains",
]
