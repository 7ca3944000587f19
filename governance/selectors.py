"""Reads: autonomy levels, authorities in force, the approval inbox, institutional memory."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from governance import conf
from governance.models import (
    ApprovalParty,
    ApprovalRequest,
    AutonomyProfile,
    DecisionAuthority,
    DecisionConflict,
    DecisionLifecycle,
    DecisionPrecedent,
    DecisionReview,
    Impact,
    PrecedentState,
    ShadowExecution,
)
from governance.models.approvals import RequesterType
from governance.models.authorities import ALL_SCOPES


@dataclass(frozen=True)
class EffectiveAutonomy:
    """An agent's level for one action, where it comes from, and the profile's limits (None: no limit)."""

    level: int
    source: str  # "override", "base" or "default" (no profile)
    max_daily_actions: int | None
    max_amount_per_action: int | None
    profile_id: uuid.UUID | None


def autonomy_profile_get(*, agent_id: uuid.UUID) -> AutonomyProfile | None:
    return AutonomyProfile.objects.filter(agent_id=agent_id).first()


def autonomy_resolve(*, agent_id: uuid.UUID, action: str) -> EffectiveAutonomy:
    profile = autonomy_profile_get(agent_id=agent_id)
    if profile is None:
        return EffectiveAutonomy(conf.get().autonomy_default_level, "default", None, None, None)
    override = (profile.action_overrides or {}).get(action)
    return EffectiveAutonomy(
        level=int(override) if override is not None else int(profile.base_level),
        source="override" if override is not None else "base",
        max_daily_actions=profile.max_daily_actions,
        max_amount_per_action=profile.max_amount_per_action,
        profile_id=profile.pk,
    )


def autonomy_level(*, agent_id: uuid.UUID, action: str) -> int:
    """The effective level for (agent, action): the action's override, else the base level, else
    AUTONOMY_DEFAULT_LEVEL (0, forbidden) for an agent without a profile. 0 forbidden, 1 shadow, 2 audited, 3 full."""
    return autonomy_resolve(agent_id=agent_id, action=action).level


def shadow_executions_for(*, agent_id: uuid.UUID) -> QuerySet[ShadowExecution]:
    return ShadowExecution.objects.filter(agent_id=agent_id)


def authorities_in_force(*, user, now: datetime | None = None) -> QuerySet[DecisionAuthority]:
    return DecisionAuthority.objects.in_force(now).filter(user=user)


def _reach(authorities: list[DecisionAuthority]) -> Q | None:
    """Requests these authorities reach: their domains and impacts up to their max_impact."""
    query = None
    for authority in authorities:
        part = Q(required_impact__in=Impact.at_most(authority.max_impact))
        if ALL_SCOPES not in authority.scopes:
            part &= Q(domain__in=authority.scopes)
        query = part if query is None else query | part
    return query


def approvals_decidable_by(*, user, now: datetime | None = None) -> QuerySet[ApprovalRequest]:
    """The inbox: pending, unexpired requests that ``user`` may decide now — domain in one of their authorities'
    scopes, required impact within its reach, not requested by them nor made on their behalf (they are none of
    its parties), not already decided by them."""
    now = now or timezone.now()
    if user is None or not user.is_active:
        return ApprovalRequest.objects.none()
    reach = _reach(list(authorities_in_force(user=user, now=now)))
    if reach is None:
        return ApprovalRequest.objects.none()
    return (ApprovalRequest.objects.open(now).filter(reach).exclude(requested_by=user.pk)
            .exclude(parties__user=user).exclude(decisions__decided_by=user).order_by("expires_at"))


def approval_requests_on_behalf_of(*, user, request_ids) -> set:
    """Which of ``request_ids`` act on behalf of ``user`` (they requested them or are one of their parties)."""
    if user is None or user.pk is None:
        return set()
    return set(ApprovalRequest.objects.filter(pk__in=list(request_ids))
               .filter(Q(requested_by=user.pk) | Q(parties__user=user)).values_list("pk", flat=True))


def approvals_visible_to(*, user, status: str, now: datetime | None = None) -> QuerySet[ApprovalRequest]:
    """Requests of ``status`` within the reach of the user's authorities; for ``pending``, the inbox."""
    if status == ApprovalRequest.Status.PENDING:
        return approvals_decidable_by(user=user, now=now)
    if user is None or not user.is_active:
        return ApprovalRequest.objects.none()
    reach = _reach(list(authorities_in_force(user=user, now=now)))
    if reach is None:
        return ApprovalRequest.objects.none()
    return ApprovalRequest.objects.filter(reach, status=status).order_by("-decided_at", "-created_at")


def approval_request_get_for(*, user, request_id: uuid.UUID) -> ApprovalRequest | None:
    """One request if it is within the reach of the user's authorities (or they made it), else None."""
    query = ApprovalRequest.objects.filter(pk=request_id)
    reach = _reach(list(authorities_in_force(user=user))) if user is not None and user.is_active else None
    allowed = Q(requested_by=user.pk) if user is not None else Q(pk__in=[])
    if reach is not None:
        allowed |= reach
    return query.filter(allowed).prefetch_related("decisions", "parties").first()


# --- institutional memory -----------------------------------------------------------------------------------------

PRECEDENT_CANDIDATES = 500


def lifecycle_for(*, decision_id: Any) -> DecisionLifecycle | None:
    try:
        pk = decision_id if isinstance(decision_id, uuid.UUID) else uuid.UUID(str(decision_id))
    except ValueError:
        return None
    return DecisionLifecycle.objects.filter(decision_id=pk).first()


def lifecycles_in_force(*, now: datetime | None = None) -> QuerySet[DecisionLifecycle]:
    """Decisions that stand now: active or under review, and not past their expiry (even before the expiry job
    records it)."""
    return DecisionLifecycle.objects.in_force(now)


def similar_precedents(*, domain: str, action: str, amount: int | None = None, context: Any = None,
                       limit: int = 5) -> list:
    """The precedents most like a request, best first: same domain and action (active or contested ones), ranked by
    nearest amount and shared context facts (``score`` 0 to 1; ``SimilarPrecedent``: the precedent, its observed
    ``result``, ``score``, ``amount_similarity``, ``context_similarity``). Memory, not authority: for people to
    read; nothing decides with them."""
    from governance.services.memory.precedents import precedent_score

    candidates = (DecisionPrecedent.objects
                  .filter(domain=domain, action=action, state__in=[PrecedentState.ACTIVE, PrecedentState.CONTESTED])
                  .order_by("-created_at")[:PRECEDENT_CANDIDATES])
    scored = [precedent_score(p, amount=amount, context=context or {}) for p in candidates]
    scored.sort(key=lambda s: (-s.score, s.precedent.state != PrecedentState.ACTIVE,
                               -s.precedent.created_at.timestamp()))
    return scored[:max(0, int(limit))]


def unresolved_conflicts(*, target_type: str | None = None, target_id: Any = None) -> QuerySet[DecisionConflict]:
    """Conflicts detected or acknowledged, not yet resolved or dissolved; with a target, those where either
    decision acts on it."""
    qs = DecisionConflict.objects.unresolved().select_related("decision_a", "decision_b")
    if target_type:
        target_id = str(target_id or "")
        qs = qs.filter(Q(target_type=target_type, target_id=target_id)
                       | Q(decision_a__target_type=target_type, decision_a__target_id=target_id)
                       | Q(decision_b__target_type=target_type, decision_b__target_id=target_id))
    return qs.order_by("-detected_at")


def lifecycle_parties(*, lifecycle: DecisionLifecycle) -> set[uuid.UUID]:
    """The people on whose behalf a decision in memory acts, who neither review it, resolve its conflicts nor
    record it as a precedent: its tenant (an agent's owner), the ``on_behalf_of`` ids its domain recorded in its
    context, and the parties of the approval request it went through (the request whose reference is the
    decision's id)."""
    parties: set[uuid.UUID] = set()
    if lifecycle.tenant_id:
        parties.add(lifecycle.tenant_id)
    recorded = (lifecycle.context or {}).get("on_behalf_of") if isinstance(lifecycle.context, dict) else None
    for value in recorded if isinstance(recorded, list) else []:
        try:
            parties.add(uuid.UUID(str(value)))
        except ValueError:
            continue
    requests = ApprovalRequest.objects.filter(domain=lifecycle.domain, reference=str(lifecycle.decision_id))
    parties.update(ApprovalParty.objects.filter(request__in=requests).values_list("user_id", flat=True))
    parties.update(r for r in requests.filter(requested_by_type=RequesterType.USER)
                   .values_list("requested_by", flat=True) if r)
    return parties


def approval_memory(*, request: ApprovalRequest) -> dict[str, list]:
    """What the approval screen shows beside a request: the most similar precedents (``similar_precedents``) and
    the unresolved conflicts on the request's target."""
    precedents = similar_precedents(domain=request.domain, action=request.action, amount=request.amount,
                                    context=request.context)
    conflicts = (list(unresolved_conflicts(target_type=request.target_type, target_id=request.target_id))
                 if request.target_type else [])
    return {"precedents": precedents, "conflicts": conflicts}


def reviews_due_for(*, user, now: datetime | None = None) -> QuerySet[DecisionReview]:
    """Open reviews of decisions in force that ``user`` may decide, oldest first."""
    from governance.services.memory.reviews import review_decide_problem

    if user is None or not getattr(user, "is_active", False):
        return DecisionReview.objects.none()
    now = now or timezone.now()
    open_reviews = (DecisionReview.objects.open().select_related("decision")
                    .filter(decision__in=DecisionLifecycle.objects.in_force(now)))
    ids = [r.pk for r in open_reviews if review_decide_problem(user=user, lifecycle=r.decision, now=now) is None]
    return DecisionReview.objects.filter(pk__in=ids).select_related("decision").order_by("opened_at")


@dataclass(frozen=True)
class MemoryEntry:
    at: datetime
    kind: str  # transition, conflict, review
    title: str
    detail: str = ""


def memory_timeline(*, decision_id: Any) -> list[MemoryEntry]:
    """A decision's memory, oldest first: each lifecycle transition, each conflict it took part in (detected and,
    when closed, how) and each review (opened and, when decided, the outcome)."""
    lifecycle = lifecycle_for(decision_id=decision_id)
    if lifecycle is None:
        return []
    entries = [MemoryEntry(t.created_at, "transition", f"lifecycle: {t.from_state or '∅'} → {t.to_state}",
                           f"{t.triggered_by_type}: {t.reason}")
               for t in lifecycle.transitions.order_by("sequence")]
    conflicts = DecisionConflict.objects.filter(Q(decision_a_id=lifecycle.decision_id)
                                                | Q(decision_b_id=lifecycle.decision_id))
    for c in conflicts.order_by("detected_at"):
        other = c.decision_b_id if c.decision_a_id == lifecycle.decision_id else c.decision_a_id
        entries.append(MemoryEntry(c.detected_at, "conflict", f"{c.conflict_type} conflict with {other}",
                                   c.description))
        if c.acknowledged_at:
            entries.append(MemoryEntry(c.acknowledged_at, "conflict", "conflict acknowledged", c.resolution_note))
        if c.closed_at:
            entries.append(MemoryEntry(c.closed_at, "conflict", f"conflict {c.state}", c.resolution_note))
    for r in lifecycle.reviews.order_by("opened_at"):
        entries.append(MemoryEntry(r.opened_at, "review", f"{r.review_type} review opened", r.review_reason))
        if r.decided_at:
            entries.append(MemoryEntry(r.decided_at, "review", f"review: {r.outcome}", r.justification))
    return sorted(entries, key=lambda e: e.at)
