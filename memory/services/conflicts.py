"""Conflicts as people settle them: acknowledged, resolved (a person names the prevailing decision, and may have the
other superseded) or dissolved (a person says it is none). Detection, and dissolution when a decision stops
standing, happen by themselves (``consequences``)."""
from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from governance.selectors import authorities_in_force
from memory import events
from memory.models import ConflictState, DecisionConflict
from memory.selectors import lifecycle_parties
from memory.services.consequences import conflict_audit
from memory.services.lifecycles import lifecycle_transition

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
    conflict_audit(conflict, events.DECISION_CONFLICT_ACKNOWLEDGED, "acknowledge", before,
                   reason=conflict.resolution_note, user=user)
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
    conflict_audit(conflict, events.DECISION_CONFLICT_RESOLVED, "resolve", before, reason=text, user=user)
    if supersede_other:
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
    conflict_audit(conflict, events.DECISION_CONFLICT_DISSOLVED, "dissolve", before, reason=text, user=user)
    return conflict
