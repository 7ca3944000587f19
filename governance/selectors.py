"""Reads: autonomy levels, authorities in force, the approval inbox."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from governance import conf
from governance.models import ApprovalRequest, AutonomyProfile, DecisionAuthority, Impact, ShadowExecution
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
