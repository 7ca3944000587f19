"""Decision lifecycles: open one per approved decision or authority grant, and change its state through one
service that checks the transition is legal and appends a hashed ``lifecycle_transitions`` row."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from core.errors import Conflict, InvalidInput, NotFound
from core.validation import clean_reason
from governance.jsonvalues import json_ready
from memory import events
from memory.models import (
    IN_FORCE_STATES,
    DecisionLifecycle,
    DecisionType,
    ExpirationType,
    LifecycleState,
    LifecycleTransition,
    TriggerType,
)
from memory.services.consequences import conflicts_detect, conflicts_dissolve_for, reviews_close_for
from memory.transition_hash import GENESIS_HASH, transition_hash

State = LifecycleState
Trigger = TriggerType
OPENING = ""

# (from, to) → who may trigger it. Everything else is illegal. Only a person renews a decision under review;
# only the clock or the system (an expiry condition) lets a decision expire.
LEGAL_TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (OPENING, State.ACTIVE): frozenset({Trigger.HUMAN, Trigger.SYSTEM}),
    (State.ACTIVE, State.UNDER_REVIEW): frozenset({Trigger.HUMAN, Trigger.SYSTEM, Trigger.TIME}),
    (State.ACTIVE, State.EXPIRED): frozenset({Trigger.TIME, Trigger.SYSTEM}),
    (State.ACTIVE, State.REVOKED): frozenset({Trigger.HUMAN, Trigger.SYSTEM}),
    (State.ACTIVE, State.SUPERSEDED): frozenset({Trigger.HUMAN, Trigger.SYSTEM}),
    (State.UNDER_REVIEW, State.ACTIVE): frozenset({Trigger.HUMAN}),
    (State.UNDER_REVIEW, State.EXPIRED): frozenset({Trigger.TIME, Trigger.SYSTEM}),
    (State.UNDER_REVIEW, State.REVOKED): frozenset({Trigger.HUMAN, Trigger.SYSTEM}),
    (State.UNDER_REVIEW, State.SUPERSEDED): frozenset({Trigger.HUMAN, Trigger.SYSTEM}),
}
TERMINAL_STATES = frozenset({State.EXPIRED, State.REVOKED, State.SUPERSEDED})


def transition_is_legal(from_state: str, to_state: str, triggered_by_type: str) -> bool:
    return triggered_by_type in LEGAL_TRANSITIONS.get((from_state, to_state), frozenset())


def review_interval() -> timedelta:
    return timedelta(days=float(getattr(settings, "MEMORY_REVIEW_INTERVAL_DAYS", 90)))


# --- expiry conditions --------------------------------------------------------------------------------------------

ConditionCheck = Callable[[DecisionLifecycle, datetime], "str | None"]
_CONDITIONS: dict[str, ConditionCheck] = {}


def register_expiry_condition(name: str, check: ConditionCheck) -> None:
    """Register a named condition for ``expires_on_condition`` lifecycles (from an ``AppConfig.ready()``):
    ``check(lifecycle, now)`` returns why the decision no longer holds (it then expires), or None."""
    if not isinstance(name, str) or not name or len(name) > 64:
        raise ImproperlyConfigured("expiry conditions are registered under a name of 1 to 64 characters")
    if name in _CONDITIONS:
        raise ImproperlyConfigured(f"expiry condition {name!r} is registered twice")
    _CONDITIONS[name] = check


def unregister_expiry_condition(name: str) -> None:
    _CONDITIONS.pop(name, None)


def expiry_condition(name: str) -> ConditionCheck | None:
    return _CONDITIONS.get(name)


# --- transitions --------------------------------------------------------------------------------------------------


def _trigger_of(user) -> tuple[uuid.UUID | None, str]:
    return (user.pk, Trigger.HUMAN) if user is not None else (None, Trigger.SYSTEM)


def _actor(triggered_by: uuid.UUID | None, triggered_by_type: str) -> dict[str, Any]:
    if triggered_by_type == Trigger.HUMAN and triggered_by:
        return {"actor_id": triggered_by, "actor_type": "user"}
    return {"actor_id": None, "actor_type": "system"}


def _append(lifecycle: DecisionLifecycle, *, from_state: str, to_state: str, triggered_by, triggered_by_type: str,
            reason: str, now: datetime) -> LifecycleTransition:
    """Append the next transition of a lifecycle whose row the caller holds locked."""
    last = (LifecycleTransition.objects.filter(decision_id=lifecycle.decision_id).order_by("-sequence")
            .values_list("sequence", "hash").first())
    sequence, previous = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
    row = LifecycleTransition(decision_id=lifecycle.decision_id, sequence=sequence, from_state=from_state,
                              to_state=to_state, triggered_by=triggered_by, triggered_by_type=triggered_by_type,
                              reason=reason, previous_hash=previous, created_at=now)
    row.hash = transition_hash(row, previous)
    row.save()
    return row


@transaction.atomic
def lifecycle_transition(
    *,
    decision_id: uuid.UUID,
    to_state: str,
    triggered_by_type: str,
    reason: str,
    triggered_by: uuid.UUID | None = None,
    expected_from: str | None = None,
    superseded_by: uuid.UUID | None = None,
    now: datetime | None = None,
) -> LifecycleTransition:
    """Move a decision's lifecycle to ``to_state`` — the one way any state changes.

    Under the lifecycle's row lock: the current state is re-read, the transition must be in LEGAL_TRANSITIONS for
    ``triggered_by_type`` (409 ``illegal_transition`` otherwise; 409 ``lifecycle_state_changed`` when
    ``expected_from`` no longer holds), a ``lifecycle_transitions`` row chained to the decision's previous one is
    appended and the change is audited. Leaving force (expired, revoked, superseded) dissolves the decision's open
    conflicts and closes its open review; returning to active looks for conflicts again.
    """
    reason = clean_reason(reason, min_length=1, max_length=2000, detail=_("Say why the state changes."))
    if to_state not in State.values:
        raise InvalidInput(fields={"to_state": [_("One of %(s)s.") % {"s": ", ".join(State.values)}]})
    if triggered_by_type not in Trigger.values:
        raise InvalidInput(fields={"triggered_by_type": [_("One of %(s)s.") % {"s": ", ".join(Trigger.values)}]})
    lifecycle = DecisionLifecycle.objects.select_for_update().filter(decision_id=decision_id).first()
    if lifecycle is None:
        raise NotFound(_("No lifecycle for this decision."), code="lifecycle_not_found")
    from_state = lifecycle.state
    if expected_from is not None and from_state != expected_from:
        raise Conflict(_("The decision is %(s)s now, no longer %(e)s.") % {"s": from_state, "e": expected_from},
                       code="lifecycle_state_changed", extra={"state": from_state})
    if not transition_is_legal(from_state, to_state, triggered_by_type):
        raise Conflict(_("%(f)s → %(t)s by %(by)s is not a legal transition.")
                       % {"f": from_state, "t": to_state, "by": triggered_by_type},
                       code="illegal_transition", extra={"state": from_state})
    now = now or timezone.now()
    if to_state == State.SUPERSEDED:
        lifecycle.superseded_by = _superseding(lifecycle, superseded_by, now)
    elif superseded_by is not None:
        raise InvalidInput(fields={"superseded_by": [_("Only a superseded decision names its successor.")]})
    row = _append(lifecycle, from_state=from_state, to_state=to_state, triggered_by=triggered_by,
                  triggered_by_type=triggered_by_type, reason=reason, now=now)
    lifecycle.state, lifecycle.updated_at = to_state, now
    lifecycle.save(update_fields=["state", "updated_at", "superseded_by"])
    audit_record(events.DECISION_LIFECYCLE_TRANSITIONED, action="transition", target_type="decision_lifecycle",
                 target_id=lifecycle.pk, before={"state": from_state}, after={"state": to_state},
                 metadata={"decision_id": str(lifecycle.decision_id), "decision_type": lifecycle.decision_type,
                           "sequence": row.sequence, "hash": row.hash, "triggered_by_type": triggered_by_type,
                           "superseded_by": str(lifecycle.superseded_by_id) if lifecycle.superseded_by_id else None},
                 reason=reason, **_actor(triggered_by, triggered_by_type))
    if to_state in TERMINAL_STATES:
        conflicts_dissolve_for(lifecycle=lifecycle, reason=_("decision %(s)s: %(r)s") % {"s": to_state, "r": reason},
                               now=now)
        reviews_close_for(lifecycle=lifecycle, state=to_state, reason=reason, now=now)
    elif to_state == State.ACTIVE:
        conflicts_detect(lifecycle=lifecycle, now=now)
    return row


def _superseding(lifecycle: DecisionLifecycle, superseded_by: Any, now: datetime) -> DecisionLifecycle:
    successor = None
    try:
        successor_id = uuid.UUID(str(superseded_by)) if superseded_by is not None else None
    except ValueError:
        successor_id = None
    if successor_id is not None and successor_id != lifecycle.decision_id:
        successor = DecisionLifecycle.objects.in_force(now).filter(decision_id=successor_id).first()
    if successor is None:
        raise InvalidInput(fields={"superseded_by": [_("Name another decision that is in force.")]},
                           code="invalid_successor")
    return successor


# --- opening ------------------------------------------------------------------------------------------------------


@dataclass
class LifecycleSpec:
    """What a domain tells memory about a decision when it becomes active."""

    decision_id: uuid.UUID
    decision_type: str
    domain: str
    action: str
    expires_at: datetime | None = None
    next_review_at: datetime | None = None
    condition: str = ""
    target_type: str = ""
    target_id: str = ""
    reference: str = ""
    direction: str = ""
    amount: int = 0
    scopes: list[str] = field(default_factory=list)
    subject_id: uuid.UUID | None = None
    tenant_id: uuid.UUID | None = None
    context: dict[str, Any] = field(default_factory=dict)
    policy_evaluation_id: uuid.UUID | None = None


def _expiration(spec: LifecycleSpec, now: datetime) -> tuple[str, datetime | None]:
    if spec.condition and expiry_condition(spec.condition) is None:
        raise InvalidInput(fields={"condition": [_("No expiry condition is registered under %(n)r.")
                                                 % {"n": spec.condition}]})
    if spec.expires_at is not None:
        kind = ExpirationType.EXPIRES_AT
    elif spec.condition:
        kind = ExpirationType.EXPIRES_ON_CONDITION
    else:
        kind = ExpirationType.REVIEW_REQUIRED
    next_review = spec.next_review_at
    if next_review is None and kind != ExpirationType.EXPIRES_AT:
        next_review = now + review_interval()
    return kind, next_review


def lifecycle_open(spec: LifecycleSpec, *, triggered_by: uuid.UUID | None = None,
                   triggered_by_type: str = Trigger.SYSTEM, reason: str = "", now: datetime | None = None
                   ) -> DecisionLifecycle:
    """Give a decision that became active its lifecycle (inside the caller's transaction): the row, the opening
    transition (∅ → active), the audit event, and conflict detection against the decisions in force. Idempotent:
    a decision that already has a lifecycle gets it back unchanged.

    The expiration type follows from what is given: ``expires_at`` → expires_at; a registered ``condition`` →
    expires_on_condition; otherwise review_required. Every lifecycle without a fixed expiry gets a
    ``next_review_at`` (``MEMORY_REVIEW_INTERVAL_DAYS`` from now unless given).
    """
    existing = DecisionLifecycle.objects.filter(decision_id=spec.decision_id).first()
    if existing is not None:
        return existing
    if spec.decision_type not in DecisionType.values:
        raise InvalidInput(fields={"decision_type": [_("One of %(s)s.") % {"s": ", ".join(DecisionType.values)}]})
    now = now or timezone.now()
    kind, next_review = _expiration(spec, now)
    lifecycle = DecisionLifecycle(
        decision_id=spec.decision_id, decision_type=spec.decision_type, state=State.ACTIVE, expiration_type=kind,
        expires_at=spec.expires_at, next_review_at=next_review, domain=spec.domain, action=spec.action,
        target_type=spec.target_type or "", target_id=str(spec.target_id or ""), reference=spec.reference or "",
        direction=spec.direction or "", amount=int(spec.amount or 0), scopes=list(spec.scopes or []),
        subject_id=spec.subject_id, tenant_id=spec.tenant_id,
        condition=spec.condition if kind == ExpirationType.EXPIRES_ON_CONDITION else "",
        context=json_ready(spec.context or {}), policy_evaluation_id=spec.policy_evaluation_id, created_at=now,
        updated_at=now)
    try:
        with transaction.atomic():
            lifecycle.save(force_insert=True)
    except IntegrityError:
        # Opened by a concurrent caller for the same decision, which committed first.
        found = DecisionLifecycle.objects.filter(decision_id=spec.decision_id).first()
        if found is None:
            raise
        return found
    # Locked from here on: a concurrent transition waits for the opening transition to be in place.
    lifecycle = DecisionLifecycle.objects.select_for_update().get(pk=lifecycle.pk)
    why = reason or _("%(t)s %(d)s.%(a)s became active") % {"t": spec.decision_type, "d": spec.domain,
                                                            "a": spec.action}
    row = _append(lifecycle, from_state=OPENING, to_state=State.ACTIVE, triggered_by=triggered_by,
                  triggered_by_type=triggered_by_type, reason=why, now=now)
    audit_record(events.DECISION_LIFECYCLE_OPENED, action="open", target_type="decision_lifecycle",
                 target_id=lifecycle.pk,
                 after={"decision_id": str(lifecycle.decision_id), "decision_type": lifecycle.decision_type,
                        "state": lifecycle.state, "expiration_type": kind, "domain": lifecycle.domain,
                        "action": lifecycle.action, "target": lifecycle.target,
                        "expires_at": lifecycle.expires_at.isoformat() if lifecycle.expires_at else None,
                        "next_review_at": next_review.isoformat() if next_review else None},
                 metadata={"sequence": row.sequence, "hash": row.hash}, reason=why,
                 **_actor(triggered_by, triggered_by_type))
    conflicts_detect(lifecycle=lifecycle, now=now)
    return lifecycle


def lifecycle_end_if_in_force(*, decision_id: uuid.UUID, to_state: str, reason: str,
                              triggered_by: uuid.UUID | None = None,
                              triggered_by_type: str = Trigger.SYSTEM) -> LifecycleTransition | None:
    """End a decision's lifecycle when it has one in force (revoke a grant, a failed execution): None otherwise."""
    state = DecisionLifecycle.objects.filter(decision_id=decision_id).values_list("state", flat=True).first()
    if state not in IN_FORCE_STATES:
        return None
    return lifecycle_transition(decision_id=decision_id, to_state=to_state, reason=reason,
                                triggered_by=triggered_by, triggered_by_type=triggered_by_type)


# --- scheduled work -----------------------------------------------------------------------------------------------


def lifecycles_expire(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Expire, on time, every decision in force past its ``expires_at`` (triggered by ``time``) and every
    ``expires_on_condition`` decision whose registered condition says it no longer holds (``system``).
    Each transition commits on its own; a decision changed meanwhile is skipped. Returns how many expired."""
    now = now or timezone.now()
    expired = 0
    due = list(DecisionLifecycle.objects.filter(state__in=IN_FORCE_STATES, expires_at__lte=now)
               .order_by("expires_at").values_list("decision_id", "state", "expires_at")[:batch_size])
    for decision_id, state, expires_at in due:
        expired += _expire_one(decision_id, state, Trigger.TIME,
                               _("expired at %(t)s") % {"t": expires_at.isoformat()}, now)
    conditional = (DecisionLifecycle.objects.in_force(now)
                   .filter(expiration_type=ExpirationType.EXPIRES_ON_CONDITION)
                   .order_by("created_at")[:batch_size * 4])
    for lifecycle in conditional:
        check = expiry_condition(lifecycle.condition)
        why = check(lifecycle, now) if check is not None else None
        if why:
            expired += _expire_one(lifecycle.decision_id, lifecycle.state, Trigger.SYSTEM,
                                   _("condition %(c)s: %(w)s") % {"c": lifecycle.condition, "w": why}, now)
    return expired


def _expire_one(decision_id, state, trigger, reason, now) -> int:
    try:
        lifecycle_transition(decision_id=decision_id, to_state=State.EXPIRED, triggered_by_type=trigger,
                             reason=reason, expected_from=state, now=now)
    except Conflict:
        return 0  # changed since it was read (renewed, revoked, expired by another run)
    return 1
