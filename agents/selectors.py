"""Reads of the agents app. With ``tenant_id``, another tenant's object answers ``NotFound`` (404), never 403."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from agents import errors
from agents.models import (
    Agent,
    AgentDailyStats,
    AgentDecision,
    AgentExecutionLog,
    AgentMemory,
    AgentPolicy,
    HumanDecision,
    RiskScore,
)
from governance.models import ApprovalRequest
from memory.selectors import memory_timeline


def parse_uuid(value: Any) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def agents_for_tenant(*, tenant_id: Any) -> QuerySet[Agent]:
    return Agent.objects.for_tenant(parse_uuid(tenant_id)).order_by("name", "id")


def agent_get(*, agent_id: Any, tenant_id: Any = None) -> Agent:
    pk = parse_uuid(agent_id)
    qs = Agent.objects.select_related("app")
    if tenant_id is not None:
        qs = qs.for_tenant(parse_uuid(tenant_id))
    found = qs.filter(pk=pk).first() if pk else None
    if found is None:
        raise errors.AgentNotFound()
    return found


def agent_policies(*, agent: Agent) -> QuerySet[AgentPolicy]:
    return AgentPolicy.objects.filter(agent=agent).order_by("domain")


def agent_policy_for(*, agent_id: Any, domain: str) -> AgentPolicy | None:
    return AgentPolicy.objects.filter(agent_id=agent_id, domain=domain).first()


def agent_stats_on(*, agent_id: Any, day: date | None = None) -> AgentDailyStats | None:
    """The agent's counters for ``day`` (today by default), or None when it did nothing that day."""
    return AgentDailyStats.objects.filter(agent_id=agent_id, date=day or timezone.localdate()).first()


def decisions_for_agent(*, agent: Agent) -> QuerySet[AgentDecision]:
    return AgentDecision.objects.filter(agent=agent).order_by("-created_at", "id")


def decision_get(*, decision_id: Any, agent: Agent | None = None, tenant_id: Any = None) -> AgentDecision:
    pk = parse_uuid(decision_id)
    qs = AgentDecision.objects.select_related("agent", "approval_request")
    if agent is not None:
        qs = qs.filter(agent=agent)
    if tenant_id is not None:
        qs = qs.for_tenant(parse_uuid(tenant_id))
    found = qs.filter(pk=pk).first() if pk else None
    if found is None:
        raise errors.DecisionNotFound()
    return found


def decision_for_approval(*, request_id: Any) -> AgentDecision | None:
    """The agent decision that an approval request holds (None for requests made by other domains)."""
    return (AgentDecision.objects.select_related("agent", "app").filter(approval_request_id=parse_uuid(request_id))
            .first())


def decision_last_execution(*, decision: AgentDecision) -> AgentExecutionLog | None:
    return decision.executions.order_by("-executed_at").first()


def decisions_pending_approval(*, tenant_id: Any = None) -> QuerySet[AgentDecision]:
    qs = AgentDecision.objects.pending().filter(approval_request__status=ApprovalRequest.Status.PENDING)
    return qs if tenant_id is None else qs.for_tenant(parse_uuid(tenant_id))


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # proposal, evaluation, approval_request, approval_decision, shadow, execution, status,
    # and from institutional memory: transition, conflict, review
    title: str
    detail: str = ""


def decision_timeline(*, decision: AgentDecision) -> list[TimelineEntry]:
    """What happened to a decision, oldest first: the proposal, the policy evaluation, the approval request and
    each decision on it, the shadow execution, each execution attempt, each later change of status, and from
    institutional memory its lifecycle transitions, the conflicts it took part in and its reviews."""
    entries = [TimelineEntry(decision.created_at, "proposal",
                             f"{decision.domain}.{decision.proposed_action} on {decision.target_entity}",
                             f"risk {decision.risk_score if decision.risk_score is not None else '-'}"
                             f" ({decision.risk_level or '-'})")]
    evaluation = decision.policy_evaluation
    if evaluation is not None:
        entries.append(TimelineEntry(evaluation.evaluated_at, "evaluation", f"policy engine: {evaluation.result}",
                                     evaluation.reason))
    request = decision.approval_request
    if request is not None:
        entries.append(TimelineEntry(request.created_at, "approval_request",
                                     f"approval requested ({request.impact} impact)",
                                     f"expires {request.expires_at:%Y-%m-%d %H:%M}"))
        for row in request.decisions.select_related("decided_by").order_by("sequence"):
            entries.append(TimelineEntry(row.decided_at, "approval_decision", f"{row.decision} by {row.decided_by}",
                                         row.justification))
        if request.status == ApprovalRequest.Status.EXPIRED and request.decided_at:
            entries.append(TimelineEntry(request.decided_at, "approval_decision", "approval expired"))
    shadow = decision.shadow_execution
    if shadow is not None:
        entries.append(TimelineEntry(shadow.created_at, "shadow", "simulated in shadow mode", shadow.reason))
    for log in decision.executions.order_by("executed_at"):
        entries.append(TimelineEntry(log.executed_at, "execution", f"execution by {log.executed_by}: {log.result}",
                                     log.error_message or log.error_code))
    seen_status = None
    for record in decision.history.order_by("history_date", "history_id"):
        if record.status != seen_status and seen_status is not None:
            entries.append(TimelineEntry(record.history_date, "status", f"status: {record.status}",
                                         record.history_change_reason or ""))
        seen_status = record.status
    entries.extend(TimelineEntry(m.at, m.kind, m.title, m.detail) for m in memory_timeline(decision_id=decision.pk))
    return sorted(entries, key=lambda e: e.at)


# --- observer ---------------------------------------------------------------------------------------------------------


def suggestions_for_tenant(*, tenant_id: Any) -> QuerySet[AgentMemory]:
    return AgentMemory.objects.filter(tenant_id=parse_uuid(tenant_id)).order_by("-created_at", "id")


def suggestions_pending() -> QuerySet[AgentMemory]:
    """Suggestions without a decision, or whose last decision was ``deferred``."""
    final = HumanDecision.objects.filter(suggestion=OuterRef("pk"), decision__in=[
        HumanDecision.Decision.ACCEPTED, HumanDecision.Decision.IGNORED])
    return AgentMemory.objects.filter(~Exists(final))


def suggestion_get(*, suggestion_id: Any, tenant_id: Any = None) -> AgentMemory:
    pk = parse_uuid(suggestion_id)
    qs = AgentMemory.objects.select_related("observer")
    if tenant_id is not None:
        qs = qs.filter(tenant_id=parse_uuid(tenant_id))
    found = qs.filter(pk=pk).first() if pk else None
    if found is None:
        raise errors.SuggestionNotFound()
    return found


def suggestion_status(*, suggestion: AgentMemory) -> str:
    """``pending`` (no decision yet), else the last decision: accepted, ignored or deferred."""
    last = suggestion.decisions.order_by("-created_at").values_list("decision", flat=True).first()
    return last or "pending"


# --- risk -------------------------------------------------------------------------------------------------------------


def risk_score_for_app(*, app_id: Any) -> RiskScore | None:
    return RiskScore.objects.filter(app_id=parse_uuid(app_id), agent__isnull=True).first()


def _decides_every_suggestion(user) -> bool:
    from governance.selectors import authorities_in_force

    return any(a.covers_domain("agents") for a in authorities_in_force(user=user))


def suggestions_decidable_by(*, user) -> QuerySet[AgentMemory]:
    """Suggestions a signed-in person may decide over the API: their own tenant's, or every tenant's for a person
    holding a decision authority in force that covers the ``agents`` domain."""
    if user is None or not getattr(user, "is_active", False) or getattr(user, "pk", None) is None:
        return AgentMemory.objects.none()
    if _decides_every_suggestion(user):
        return AgentMemory.objects.all()
    return AgentMemory.objects.filter(tenant_id=user.pk)


def suggestion_get_for_user(*, user, suggestion_id: Any) -> AgentMemory:
    pk = parse_uuid(suggestion_id)
    found = suggestions_decidable_by(user=user).filter(pk=pk).first() if pk else None
    if found is None:
        raise errors.SuggestionNotFound()
    return found
