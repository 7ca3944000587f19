"""Precedents: a reviewed decision with an observed result, kept to inform the next approver of a similar request.
Memory, not authority: nothing reads a precedent to decide; people see them beside a request."""
from __future__ import annotations

import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.integrity.canonical import canonical_json
from governance.jsonvalues import json_ready
from memory import events
from memory.models import DecisionLifecycle, DecisionPrecedent, DecisionReview, PrecedentState, ReviewOutcome
from memory.selectors import review_decide_problem

REASON_MIN = 3

# active ↔ contested; either may be deprecated; anything but archived may be archived; archived is final.
PRECEDENT_TRANSITIONS: dict[str, frozenset[str]] = {
    PrecedentState.ACTIVE: frozenset({PrecedentState.DEPRECATED, PrecedentState.CONTESTED, PrecedentState.ARCHIVED}),
    PrecedentState.CONTESTED: frozenset({PrecedentState.ACTIVE, PrecedentState.DEPRECATED, PrecedentState.ARCHIVED}),
    PrecedentState.DEPRECATED: frozenset({PrecedentState.ACTIVE, PrecedentState.ARCHIVED}),
    PrecedentState.ARCHIVED: frozenset(),
}


def precedent_transition_is_legal(from_state: str, to_state: str) -> bool:
    return to_state in PRECEDENT_TRANSITIONS.get(from_state, frozenset())


def _require_authority(user, lifecycle: DecisionLifecycle) -> None:
    problem = review_decide_problem(user=user, lifecycle=lifecycle)
    if problem:
        raise Forbidden(problem, code="no_decision_authority")


@transaction.atomic
def precedent_record(*, decision_id: Any, observed_result: dict[str, Any], created_by, note: str = ""
                     ) -> DecisionPrecedent:
    """Record a reviewed decision (at least one review decided by a person) and what was observed after it as a
    precedent. One per decision (409 ``precedent_exists``); 409 ``decision_not_reviewed`` before any review."""
    if not isinstance(observed_result, dict) or not observed_result:
        raise InvalidInput(fields={"observed_result": [_("A non-empty JSON object: what happened after.")]})
    lifecycle = DecisionLifecycle.objects.select_for_update().filter(decision_id=decision_id).first()
    if lifecycle is None:
        raise NotFound(_("No lifecycle for this decision."), code="lifecycle_not_found")
    _require_authority(created_by, lifecycle)
    reviewed = (DecisionReview.objects.filter(decision_id=lifecycle.decision_id, decided_by__isnull=False)
                .exclude(outcome=ReviewOutcome.PENDING).order_by("-decided_at").first())
    if reviewed is None:
        raise Conflict(_("Only a reviewed decision becomes a precedent: decide a review of it first."),
                       code="decision_not_reviewed")
    if DecisionPrecedent.objects.filter(original_decision_id=lifecycle.decision_id).exists():
        raise Conflict(_("This decision is already a precedent."), code="precedent_exists")
    snapshot = {"decision_type": lifecycle.decision_type, "domain": lifecycle.domain, "action": lifecycle.action,
                "amount": lifecycle.amount, "target": lifecycle.target, "direction": lifecycle.direction,
                "state": lifecycle.state, "context": lifecycle.context,
                "review": {"id": str(reviewed.pk), "outcome": reviewed.outcome, "type": reviewed.review_type}}
    now = timezone.now()
    precedent = DecisionPrecedent(original_decision_id=lifecycle.decision_id, domain=lifecycle.domain,
                                  action=lifecycle.action, original_context=canonical_json(json_ready(snapshot)),
                                  observed_result=canonical_json(json_ready(observed_result)), amount=lifecycle.amount,
                                  created_by=created_by, state_reason=(note or "").strip()[:2000], created_at=now,
                                  updated_at=now)
    try:
        with transaction.atomic():
            precedent.save(force_insert=True)
    except IntegrityError:
        raise Conflict(_("This decision is already a precedent."), code="precedent_exists") from None
    audit_record(events.DECISION_PRECEDENT_RECORDED, action="record", target_type="decision_precedent",
                 target_id=precedent.pk,
                 after={"decision_id": str(lifecycle.decision_id), "domain": precedent.domain,
                        "action": precedent.action, "state": precedent.state,
                        "observed_result": json_ready(observed_result)},
                 reason=precedent.state_reason, actor_id=created_by.pk,
                 actor_type="admin" if created_by.is_staff else "user")
    return precedent


@transaction.atomic
def precedent_set_state(*, precedent_id: Any, state: str, user, reason: str) -> DecisionPrecedent:
    """Deprecate, contest, archive or reinstate a precedent (PRECEDENT_TRANSITIONS; 409 otherwise)."""
    if state not in PrecedentState.values:
        raise InvalidInput(fields={"state": [_("One of %(s)s.") % {"s": ", ".join(PrecedentState.values)}]})
    if not isinstance(reason, str) or len(reason.strip()) < REASON_MIN:
        raise InvalidInput(fields={"reason": [_("Say why (at least 3 characters).")]})
    try:
        pk = uuid.UUID(str(precedent_id))
    except ValueError:
        pk = None
    precedent = (DecisionPrecedent.objects.select_for_update().select_related("original_decision")
                 .filter(pk=pk).first() if pk else None)
    if precedent is None:
        raise NotFound(_("No such precedent."), code="precedent_not_found")
    _require_authority(user, precedent.original_decision)
    if not precedent_transition_is_legal(precedent.state, state):
        raise Conflict(_("A %(f)s precedent cannot become %(t)s.") % {"f": precedent.state, "t": state},
                       code="illegal_precedent_transition", extra={"state": precedent.state})
    before = precedent.state
    precedent.state, precedent.state_reason, precedent.updated_at = state, reason.strip()[:2000], timezone.now()
    precedent.save(update_fields=["state", "state_reason", "updated_at"])
    audit_record(events.DECISION_PRECEDENT_STATE_CHANGED, action=state, target_type="decision_precedent",
                 target_id=precedent.pk, before={"state": before}, after={"state": state},
                 reason=precedent.state_reason, actor_id=user.pk, actor_type="admin" if user.is_staff else "user")
    return precedent
