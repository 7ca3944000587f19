"""Conflicts between decisions in force: detected when a decision becomes active, then acknowledged, resolved
(a person names the prevailing decision) or dissolved (one of them stopped standing, or a person says it is none).

Kinds, checked in this order for each pair (the first that applies is recorded):

- ``direction``: one target, opposite directions (pause ↔ resume, raise ↔ lower);
- ``resource``: one money reference, credit ↔ debit;
- ``scope``: one subject (a person's authority grants), overlapping scopes;
- ``temporal``: one target and action, both standing over the same time with different terms (amounts).
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from governance import events
from governance.models import ConflictState, ConflictType, DecisionConflict, DecisionLifecycle
from governance.models.authorities import ALL_SCOPES

OPPOSITE_DIRECTIONS = (frozenset({"pause", "resume"}), frozenset({"raise", "lower"}))
MONEY_DIRECTIONS = frozenset({"credit", "debit"})
NOTE_MIN = 10

# detected → acknowledged → resolved / dissolved; a detected conflict may be resolved or dissolved at once.
CONFLICT_TRANSITIONS: dict[str, frozenset[str]] = {
    ConflictState.DETECTED: frozenset({ConflictState.ACKNOWLEDGED, ConflictState.RESOLVED, ConflictState.DISSOLVED}),
    ConflictState.ACKNOWLEDGED: frozenset({ConflictState.RESOLVED, ConflictState.DISSOLVED}),
    ConflictState.RESOLVED: frozenset(),
    ConflictState.DISSOLVED: frozenset(),
}


def conflict_transition_is_legal(from_state: str, to_state: str) -> bool:
    return to_state in CONFLICT_TRANSITIONS.get(from_state, frozenset())


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


def _candidates(lifecycle: DecisionLifecycle, now: datetime):
    query = Q(pk__in=[])
    if lifecycle.target_type:
        query |= Q(target_type=lifecycle.target_type, target_id=lifecycle.target_id)
    if lifecycle.reference:
        query |= Q(reference=lifecycle.reference)
    if lifecycle.subject_id and lifecycle.scopes:
        query |= Q(subject_id=lifecycle.subject_id, decision_type=lifecycle.decision_type)
    return (DecisionLifecycle.objects.in_force(now).filter(query).exclude(pk=lifecycle.pk)
            .order_by("created_at", "decision_id"))


def conflicts_detect(*, lifecycle: DecisionLifecycle, now: datetime | None = None) -> list[DecisionConflict]:
    """Record a conflict between ``lifecycle`` (just active) and each decision in force it conflicts with, unless
    that pair already has an open conflict of the same kind. Inside the caller's transaction."""
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


# --- people's actions ---------------------------------------------------------------------------------------------


def _locked(conflict_id: Any) -> DecisionConflict:
    try:
        pk = uuid.UUID(str(conflict_id))
    except ValueError:
        pk = None
    conflict = (DecisionConflict.objects.select_for_update().select_related("decision_a", "decision_b")
                .filter(pk=pk).first() if pk else None)
    if conflict is None:
        raise NotFound(_("No such conflict."), code="conflict_not_found")
    return conflict


def _check_move(conflict: DecisionConflict, to_state: str) -> None:
    if not conflict_transition_is_legal(conflict.state, to_state):
        raise Conflict(_("A %(f)s conflict cannot become %(t)s.") % {"f": conflict.state, "t": to_state},
                       code="illegal_conflict_transition", extra={"state": conflict.state})


def _require_authority(user, conflict: DecisionConflict) -> None:
    from governance.selectors import authorities_in_force, lifecycle_parties

    if user is None or not user.is_active:
        raise Forbidden(_("Sign in as a person holding a decision authority."), code="no_decision_authority")
    # Whoever a decision acts for would pick the side of their own agent or their own money.
    if any(user.pk in lifecycle_parties(lifecycle=d) for d in (conflict.decision_a, conflict.decision_b)):
        raise Forbidden(_("Nobody settles a conflict over a decision taken on their behalf."),
                        code="self_approval_forbidden")
    domains = {conflict.decision_a.domain, conflict.decision_b.domain}
    for authority in authorities_in_force(user=user):
        if all(authority.covers_domain(d) for d in domains):
            return
    raise Forbidden(_("You need a decision authority in force covering %(d)s.") % {"d": ", ".join(sorted(domains))},
                    code="no_decision_authority")


def _note(note: Any, *, required: bool) -> str:
    text = note.strip() if isinstance(note, str) else ""
    if required and len(text) < NOTE_MIN:
        raise InvalidInput(fields={"note": [_("Explain in at least %(n)d characters.") % {"n": NOTE_MIN}]})
    return text


def _audit(conflict: DecisionConflict, event: str, action: str, before: str, *, reason: str, user=None) -> None:
    audit_record(event, action=action, target_type="decision_conflict", target_id=conflict.pk,
                 before={"state": before},
                 after={"state": conflict.state,
                        "prevailing_id": str(conflict.prevailing_id) if conflict.prevailing_id else None},
                 reason=reason,
                 **({"actor_id": user.pk, "actor_type": "admin" if user.is_staff else "user"} if user
                    else {"actor_id": None, "actor_type": "system"}))


@transaction.atomic
def conflict_acknowledge(*, conflict_id: Any, user, note: str = "") -> DecisionConflict:
    """A person with authority over both decisions' domains has seen the conflict."""
    conflict = _locked(conflict_id)
    _check_move(conflict, ConflictState.ACKNOWLEDGED)
    _require_authority(user, conflict)
    before = conflict.state
    conflict.state, conflict.acknowledged_by, conflict.acknowledged_at = (ConflictState.ACKNOWLEDGED, user,
                                                                           timezone.now())
    conflict.resolution_note = _note(note, required=False)
    conflict.save(update_fields=["state", "acknowledged_by", "acknowledged_at", "resolution_note"])
    _audit(conflict, events.DECISION_CONFLICT_ACKNOWLEDGED, "acknowledge", before, reason=conflict.resolution_note,
           user=user)
    return conflict


@transaction.atomic
def conflict_resolve(*, conflict_id: Any, user, prevailing_decision_id: Any, note: str,
                     supersede_other: bool = False) -> DecisionConflict:
    """Name the decision that prevails (one of the two) with a note of at least 10 characters. With
    ``supersede_other`` the other decision's lifecycle becomes ``superseded`` by the prevailing one."""
    conflict = _locked(conflict_id)
    _check_move(conflict, ConflictState.RESOLVED)
    _require_authority(user, conflict)
    text = _note(note, required=True)
    choices = {str(conflict.decision_a_id): conflict.decision_b_id, str(conflict.decision_b_id): conflict.decision_a_id}
    if str(prevailing_decision_id) not in choices:
        raise InvalidInput(fields={"prevailing_decision_id": [_("One of the two conflicting decisions.")]})
    other = choices[str(prevailing_decision_id)]
    prevailing = uuid.UUID(str(prevailing_decision_id))
    before = conflict.state
    conflict.state, conflict.prevailing_id, conflict.resolved_by = ConflictState.RESOLVED, prevailing, user
    conflict.closed_at, conflict.resolution_note = timezone.now(), text
    conflict.save(update_fields=["state", "prevailing", "resolved_by", "closed_at", "resolution_note"])
    _audit(conflict, events.DECISION_CONFLICT_RESOLVED, "resolve", before, reason=text, user=user)
    if supersede_other:
        from governance.services.memory.lifecycles import lifecycle_transition

        lifecycle_transition(decision_id=other, to_state="superseded", triggered_by=user.pk,
                             triggered_by_type="human", superseded_by=prevailing,
                             reason=_("conflict resolved in favour of %(p)s: %(n)s") % {"p": prevailing, "n": text})
    return conflict


@transaction.atomic
def conflict_dissolve(*, conflict_id: Any, user, note: str) -> DecisionConflict:
    """A person says the two decisions do not really conflict (note of at least 10 characters)."""
    conflict = _locked(conflict_id)
    _check_move(conflict, ConflictState.DISSOLVED)
    _require_authority(user, conflict)
    text = _note(note, required=True)
    before = conflict.state
    conflict.state, conflict.closed_at, conflict.resolution_note = ConflictState.DISSOLVED, timezone.now(), text
    conflict.save(update_fields=["state", "closed_at", "resolution_note"])
    _audit(conflict, events.DECISION_CONFLICT_DISSOLVED, "dissolve", before, reason=text, user=user)
    return conflict


def conflicts_dissolve_for(*, lifecycle: DecisionLifecycle, reason: str, now: datetime | None = None) -> int:
    """A decision stopped standing: its open conflicts dissolve by themselves (inside the caller's transaction)."""
    now = now or timezone.now()
    open_ones = list(DecisionConflict.objects.select_for_update().unresolved()
                     .filter(Q(decision_a_id=lifecycle.decision_id) | Q(decision_b_id=lifecycle.decision_id)))
    for conflict in open_ones:
        before = conflict.state
        conflict.state, conflict.closed_at, conflict.resolution_note = ConflictState.DISSOLVED, now, reason
        conflict.save(update_fields=["state", "closed_at", "resolution_note"])
        _audit(conflict, events.DECISION_CONFLICT_DISSOLVED, "dissolve", before, reason=reason)
    return len(open_ones)
