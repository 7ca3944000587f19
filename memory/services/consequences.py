"""What memory does by itself when a decision enters or leaves force, inside the transition that moves it: look for
conflicts with the decisions in force when it becomes active; when it stops standing, dissolve its open conflicts
and close its open review. The transitions themselves are ``lifecycles``; people's actions on conflicts are
``conflicts``.

A new decision is compared with the latest decision in force that could conflict with it in each kind (one indexed
lookup each), not with every earlier one: the work stays the same however long the target's history.

Conflict kinds, checked in this order for each pair (the first that applies is recorded):

- ``direction``: one target, opposite directions (pause ↔ resume, raise ↔ lower);
- ``resource``: one money reference, credit ↔ debit;
- ``scope``: one subject (a person's authority grants), overlapping scopes;
- ``temporal``: one target and action, both standing over the same time with different terms (amounts).
"""
from __future__ import annotations

from datetime import datetime

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from governance.models.authorities import ALL_SCOPES
from memory import events
from memory.models import (
    ConflictState,
    ConflictType,
    DecisionConflict,
    DecisionLifecycle,
    DecisionReview,
    LifecycleState,
    ReviewOutcome,
)

OPPOSITE_DIRECTIONS = (frozenset({"pause", "resume"}), frozenset({"raise", "lower"}))
MONEY_DIRECTIONS = frozenset({"credit", "debit"})


def _window(lifecycle: DecisionLifecycle) -> str:
    until = lifecycle.expires_at.isoformat() if lifecycle.expires_at else _("open-ended")
    return f"{lifecycle.created_at.isoformat()} to {until}"


def _scopes_overlap(a: list[str], b: list[str]) -> list[str]:
    """The domains both cover (``*`` covers every domain)."""
    if ALL_SCOPES in a:
        return sorted(b)
    if ALL_SCOPES in b:
        return sorted(a)
    return sorted(set(a) & set(b))


def conflict_kind(existing: DecisionLifecycle, new: DecisionLifecycle) -> tuple[str, str] | None:
    """(conflict_type, description) when ``new`` conflicts with ``existing``, else None."""
    same_target = bool(new.target_type) and (existing.target_type, existing.target_id) == (new.target_type,
                                                                                           new.target_id)
    directions = frozenset({existing.direction, new.direction})
    if same_target and directions in OPPOSITE_DIRECTIONS:
        return ConflictType.DIRECTION, _("%(a)s and %(b)s pull %(t)s opposite ways (%(da)s vs %(db)s)") % {
            "a": f"{existing.domain}.{existing.action}", "b": f"{new.domain}.{new.action}", "t": new.target,
            "da": existing.direction, "db": new.direction}
    if new.reference and existing.reference == new.reference and directions == MONEY_DIRECTIONS:
        return ConflictType.RESOURCE, _("%(a)s and %(b)s move money of %(r)s opposite ways (credit vs debit)") % {
            "a": f"{existing.domain}.{existing.action}", "b": f"{new.domain}.{new.action}", "r": new.reference}
    if (new.subject_id and existing.subject_id == new.subject_id and existing.decision_type == new.decision_type
            and new.scopes and existing.scopes):
        overlap = _scopes_overlap(list(existing.scopes), list(new.scopes))
        if overlap:
            return ConflictType.SCOPE, _("both cover %(s)s for the same subject %(who)s") % {
                "s": ", ".join(overlap), "who": new.subject_id}
    if (same_target and existing.action == new.action and existing.domain == new.domain
            and not (directions & MONEY_DIRECTIONS) and existing.amount != new.amount):
        return ConflictType.TEMPORAL, _(
            "%(a)s twice on %(t)s with different terms (%(x)d vs %(y)d) over the same time (%(wa)s and %(wb)s)") % {
            "a": f"{new.domain}.{new.action}", "t": new.target, "x": existing.amount, "y": new.amount,
            "wa": _window(existing), "wb": _window(new)}
    return None


def _latest(query) -> DecisionLifecycle | None:
    return query.order_by("-created_at", "-decision_id").first()


def _candidates(lifecycle: DecisionLifecycle, now: datetime) -> list[DecisionLifecycle]:
    """The few decisions in force ``lifecycle`` could conflict with, one indexed lookup per kind: the latest one
    pulling its target the opposite way (direction), the latest one moving its money reference the opposite way
    (resource), the latest grant to its subject with overlapping scopes (scope) and the latest one taking the same
    action on its target (temporal, a conflict when their terms differ). Oldest first."""
    in_force = DecisionLifecycle.objects.in_force(now).exclude(pk=lifecycle.pk)
    found: dict = {}
    direction = lifecycle.direction
    if lifecycle.target_type:
        on_target = in_force.filter(target_type=lifecycle.target_type, target_id=lifecycle.target_id)
        opposite = next((next(iter(pair - {direction})) for pair in OPPOSITE_DIRECTIONS if direction in pair), None)
        if opposite:
            found[1] = _latest(on_target.filter(direction=opposite))
        if direction not in MONEY_DIRECTIONS:
            found[4] = _latest(on_target.filter(domain=lifecycle.domain, action=lifecycle.action)
                               .exclude(direction__in=MONEY_DIRECTIONS))
    if lifecycle.reference and direction in MONEY_DIRECTIONS:
        found[2] = _latest(in_force.filter(reference=lifecycle.reference,
                                           direction=next(iter(MONEY_DIRECTIONS - {direction}))))
    if lifecycle.subject_id and lifecycle.scopes:
        grants = (in_force.filter(subject_id=lifecycle.subject_id, decision_type=lifecycle.decision_type)
                  .order_by("-created_at", "-decision_id"))
        found[3] = next((grant for grant in grants.iterator(chunk_size=20)
                         if grant.scopes and _scopes_overlap(list(grant.scopes), list(lifecycle.scopes))), None)
    unique = {c.pk: c for c in found.values() if c is not None}
    return sorted(unique.values(), key=lambda c: (c.created_at, c.decision_id))


def conflicts_detect(*, lifecycle: DecisionLifecycle, now: datetime | None = None) -> list[DecisionConflict]:
    """Record a conflict between ``lifecycle`` (just active) and the latest decision in force it conflicts with in
    each kind (``_candidates``), unless that pair already has an open conflict of the same kind. Inside the caller's
    transaction. The work is bounded by the kinds, not by the history of the target."""
    now = now or timezone.now()
    found = []
    for other in _candidates(lifecycle, now):
        kind = conflict_kind(other, lifecycle)
        if kind is None:
            continue
        conflict_type, description = kind
        pair = Q(decision_a_id=other.decision_id, decision_b_id=lifecycle.decision_id) | Q(
            decision_a_id=lifecycle.decision_id, decision_b_id=other.decision_id)
        if DecisionConflict.objects.unresolved().filter(pair, conflict_type=conflict_type).exists():
            continue
        target_type, target_id = ((lifecycle.target_type, lifecycle.target_id) if lifecycle.target_type
                                  else ("reference", lifecycle.reference) if lifecycle.reference
                                  else ("subject", str(lifecycle.subject_id or "")))
        conflict = DecisionConflict.objects.create(
            decision_a_id=other.decision_id, decision_b_id=lifecycle.decision_id, conflict_type=conflict_type,
            description=description, target_type=target_type, target_id=target_id, detected_at=now)
        audit_record(events.DECISION_CONFLICT_DETECTED, action="detect", target_type="decision_conflict",
                     target_id=conflict.pk,
                     after={"state": conflict.state, "conflict_type": conflict_type,
                            "decision_a_id": str(other.decision_id), "decision_b_id": str(lifecycle.decision_id),
                            "target": f"{target_type}:{target_id}"},
                     reason=description, actor_type="system")
        found.append(conflict)
    return found


# --- leaving force ------------------------------------------------------------------------------------------------


def conflict_audit(conflict: DecisionConflict, event: str, action: str, before: str, *, reason: str, user=None) -> None:
    audit_record(event, action=action, target_type="decision_conflict", target_id=conflict.pk,
                 before={"state": before},
                 after={"state": conflict.state,
                        "prevailing_id": str(conflict.prevailing_id) if conflict.prevailing_id else None},
                 reason=reason,
                 **({"actor_id": user.pk, "actor_type": "admin" if user.is_staff else "user"} if user
                    else {"actor_id": None, "actor_type": "system"}))


def conflicts_dissolve_for(*, lifecycle: DecisionLifecycle, reason: str, now: datetime | None = None) -> int:
    """A decision stopped standing: its open conflicts dissolve by themselves (inside the caller's transaction)."""
    now = now or timezone.now()
    open_ones = list(DecisionConflict.objects.select_for_update().unresolved()
                     .filter(Q(decision_a_id=lifecycle.decision_id) | Q(decision_b_id=lifecycle.decision_id)))
    for conflict in open_ones:
        before = conflict.state
        conflict.state, conflict.closed_at, conflict.resolution_note = ConflictState.DISSOLVED, now, reason
        conflict.save(update_fields=["state", "closed_at", "resolution_note"])
        conflict_audit(conflict, events.DECISION_CONFLICT_DISSOLVED, "dissolve", before, reason=reason)
    return len(open_ones)


def reviews_close_for(*, lifecycle: DecisionLifecycle, state: str, reason: str, now: datetime) -> int:
    """The decision stopped standing without a review decision (it expired, or was revoked elsewhere): its open
    review closes, by the system, with the matching outcome (``pending`` for an expiry)."""
    outcome = {LifecycleState.REVOKED: ReviewOutcome.REVOKED,
               LifecycleState.SUPERSEDED: ReviewOutcome.SUPERSEDED}.get(state, ReviewOutcome.PENDING)
    closed = 0
    for review in DecisionReview.objects.select_for_update().open().filter(decision_id=lifecycle.decision_id):
        review.outcome, review.decided_at = outcome, now
        review.justification = _("closed by the system: the decision is %(s)s (%(r)s)") % {"s": state, "r": reason}
        review.save(update_fields=["outcome", "decided_at", "justification"])
        audit_record(events.DECISION_REVIEW_DECIDED, action=outcome, target_type="decision_review",
                     target_id=review.pk, before={"outcome": ReviewOutcome.PENDING},
                     after={"outcome": outcome, "decision_id": str(lifecycle.decision_id)},
                     reason=review.justification, actor_id=None, actor_type="system")
        closed += 1
    return closed
