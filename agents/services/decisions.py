"""The decision pipeline: every proposal of an agent passes, in this order,

1. kill switches (``all``, ``agents`` and the decision's domain) → rejected;
2. the agent (active, not an observer) and its app (active); the agent's policy for the domain: action allowed,
   amount ≤ ``max_amount``, ``daily_limit`` not reached (counted under a row lock on the agent's
   ``agent_daily_stats`` row, so concurrent proposals never pass the limit);
3. the risk score (``agents.services.risk``) against the policy's ``max_risk_score``;
4. the policy engine (``governance``): deny → rejected, require_approval → approval below;
5. the autonomy level: 0 → rejected, 1 → simulated and recorded as a shadow execution (nothing runs),
   2 (audited) and 3 (full) go on; the profile's ``max_amount_per_action`` and ``max_daily_actions`` apply;
6. approval, when the policy engine or the agent's policy requires it: an approval request, the decision waits;
7. execution through the domain's executor (``agents.executors``), whose services keep their own invariants.

Each stage that decided appends ``{stage, code, detail}`` to the decision's ``reasons``. The whole proposal is one
transaction: the decision, its counters, the policy evaluation, the shadow row or approval request, the domain's
effects, the execution log and the audit events commit together. A domain refusal at execution (a kill switch, an
overdraft, a paused campaign…) rolls back only the domain's own work and ends the decision ``rejected`` with the
domain's code, recorded in ``agent_execution_logs`` as ``failed``.

A decision waiting for approval continues when governance delivers the outcome (``decision_approval_approved`` /
``decision_approval_rejected``, registered as the ``agents`` approval callback). Delivery is at least once; the
decision's row lock and status make the execution happen once.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from agents import conf, errors, events
from agents.executors import ExecutionContext, Executor, PreparedAction, executor_get, executor_prepare
from agents.models import Agent, AgentDailyStats, AgentDecision, AgentExecutionLog
from agents.selectors import agent_get, agent_policy_for
from agents.services.memory import decision_forget_failed, decision_remember
from agents.services.parties import decision_parties
from agents.services.risk import risk_assess_decision
from audit import context as audit_context
from audit.rows import row_digest
from audit.services import audit_record
from core.errors import InvalidInput, ServiceError
from governance.models import ApprovalDecision, ApprovalRequest, AutonomyLevel
from governance.parties import approval_parties_scope
from governance.selectors import autonomy_resolve
from governance.services.approvals import approval_request_create
from governance.services.autonomy import shadow_record
from governance.services.policies import policy_evaluate
from identity.models import Application
from infrastructure.services.killswitches import killswitch_halted_scopes

CALLBACK = "agents"
AGENTS_SCOPE = "agents"
Status = AgentDecision.Status
Outcome = AgentDecision.Outcome
ExecutedBy = AgentExecutionLog.ExecutedBy


def reason(stage: str, code: str, detail: str = "") -> dict[str, str]:
    return {"stage": stage, "code": code, "detail": detail}


@dataclass
class _Counts:
    """The increments of one agent's day counters that a transaction will apply."""

    proposals: int = 0
    actions: int = 0
    approved: int = 0
    rejected: int = 0
    executed: int = 0
    shadowed: int = 0

    def columns(self) -> dict[str, int]:
        return {f"{name}_count": value for name, value in vars(self).items() if value}


def _lock_stats(agent_id: uuid.UUID, day) -> AgentDailyStats:
    """The agent's row for ``day``, created if needed, locked until the end of the transaction: the proposals of
    one agent that face a daily limit are counted one at a time."""
    row = AgentDailyStats.objects.select_for_update().filter(agent_id=agent_id, date=day).first()
    if row is not None:
        return row
    try:
        with transaction.atomic():
            AgentDailyStats.objects.create(agent_id=agent_id, date=day)
    except IntegrityError:
        pass  # created by a concurrent proposal, which held it until it committed
    return AgentDailyStats.objects.select_for_update().get(agent_id=agent_id, date=day)


def _count(agent_id: uuid.UUID, day, counts: _Counts, now: datetime) -> None:
    columns = counts.columns()
    if not columns:
        return
    changes = {name: F(name) + value for name, value in columns.items()}
    if AgentDailyStats.objects.filter(agent_id=agent_id, date=day).update(**changes, updated_at=now):
        return
    try:
        with transaction.atomic():
            AgentDailyStats.objects.create(agent_id=agent_id, date=day, updated_at=now, **columns)
    except IntegrityError:
        AgentDailyStats.objects.filter(agent_id=agent_id, date=day).update(**changes, updated_at=now)


def _save(decision: AgentDecision, *, why: str, user: Any = None) -> None:
    decision._change_reason = why[:100]
    if user is not None:
        decision._history_user = user
    decision.save()


def _ttl(expires_in: Any) -> timedelta:
    if expires_in is None:
        return timedelta(seconds=conf.decision_ttl_seconds())
    if (isinstance(expires_in, bool) or not isinstance(expires_in, int)
            or not conf.MIN_TTL <= expires_in <= conf.MAX_TTL):
        raise InvalidInput(fields={"expires_in": [_("Seconds, from %(a)d to %(b)d.")
                                                  % {"a": conf.MIN_TTL, "b": conf.MAX_TTL}]})
    return timedelta(seconds=expires_in)


def _day_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def _halted_detail(switches) -> str:
    switch = sorted(switches, key=lambda s: s.scope != "all")[0]
    return _("the %(scope)s kill switch is on: %(reason)s") % {"scope": switch.scope, "reason": switch.reason}


def _audit_actor(decision: AgentDecision) -> dict[str, Any]:
    return {"actor_id": decision.agent_id, "actor_type": "agent", "app_id": decision.app_id}


def _summary(decision: AgentDecision) -> dict[str, Any]:
    return {"status": decision.status, "outcome": decision.outcome, "domain": decision.domain,
            "action": decision.proposed_action, "target_entity": decision.target_entity, "amount": decision.amount,
            "risk_score": decision.risk_score, "codes": [r["code"] for r in decision.reasons]}


# --- propose ----------------------------------------------------------------------------------------------------------


def decision_propose(*, agent_id: Any, tenant_id: Any, domain: Any, action: Any, target_entity: Any, payload: Any,
                     app_id: Any = None, expires_in: int | None = None) -> AgentDecision:
    """Run a proposal through the pipeline (see the module docstring) and return the decision.

    Raises only for what is not a decision at all: 404 ``agent_not_found`` (unknown or another tenant's agent),
    400 ``unknown_action`` / ``invalid_target`` / ``validation_error`` (``payload.<field>``), 404 for a target
    outside the tenant. Everything else is an outcome with reasons. ``app_id`` is the calling app (the decision's
    app when the agent is not tied to one). The returned decision carries ``last_execution`` (or None).
    """
    agent = agent_get(agent_id=agent_id, tenant_id=tenant_id)
    executor = executor_get(domain, action)
    ttl = _ttl(expires_in)
    prepared = executor_prepare(executor, tenant_id=agent.tenant_id, app_id=agent.app_id or app_id,
                                target_entity=target_entity, payload=payload)
    return _propose(agent=agent, executor=executor, prepared=prepared, app_id=app_id, ttl=ttl)


@dataclass
class _Proposal:
    decision: AgentDecision
    day: Any
    now: datetime
    counts: _Counts = field(default_factory=lambda: _Counts(proposals=1))

    def add(self, stage: str, code: str, detail: str = "") -> None:
        self.decision.reasons.append(reason(stage, code, detail))


@transaction.atomic
def _propose(*, agent: Agent, executor: Executor, prepared: PreparedAction, app_id: Any,
             ttl: timedelta) -> AgentDecision:
    now = timezone.now()
    decision = AgentDecision(
        id=uuid.uuid4(), agent=agent, app_id=agent.app_id or app_id, tenant_id=agent.tenant_id,
        domain=prepared.domain, proposed_action=prepared.action, target_entity=prepared.target_entity,
        payload=prepared.payload, amount=prepared.amount, status=Status.PROPOSED, reasons=[],
        expires_at=now + ttl, created_at=now,
    )
    decision.last_execution = None
    run = _Proposal(decision=decision, day=timezone.localdate(now), now=now)

    # 1. kill switches
    halted = killswitch_halted_scopes(AGENTS_SCOPE, prepared.domain)
    if halted:
        return _reject(run, errors.STAGE_KILL_SWITCH, errors.KILL_SWITCH_ACTIVE, _halted_detail(halted))
    run.add(errors.STAGE_KILL_SWITCH, errors.KILL_SWITCHES_CLEAR,
            _("all, agents and %(d)s are running") % {"d": prepared.domain})

    # 2. the agent, its app, its policy for the domain
    if agent.type == Agent.Type.OBSERVER:
        return _reject(run, errors.STAGE_AGENT, errors.AGENT_CANNOT_PROPOSE,
                       _("observer agents make suggestions, not decisions"))
    if not agent.is_active:
        return _reject(run, errors.STAGE_AGENT, errors.AGENT_SUSPENDED, _("the agent is suspended"))
    if agent.app_id:
        app_status = agent.app.status
    elif decision.app_id:
        app_status = Application.objects.filter(pk=decision.app_id).values_list("status", flat=True).first()
    else:
        app_status = Application.Status.ACTIVE
    if app_status != Application.Status.ACTIVE:
        return _reject(run, errors.STAGE_AGENT, errors.APP_INACTIVE,
                       _("the agent's application is %(s)s") % {"s": app_status})
    run.add(errors.STAGE_AGENT, errors.AGENT_ACTIVE, _("%(n)s (%(t)s) is active") % {"n": agent.name, "t": agent.type})
    policy = agent_policy_for(agent_id=agent.pk, domain=prepared.domain)
    if policy is None:
        return _reject(run, errors.STAGE_AGENT_POLICY, errors.NO_AGENT_POLICY,
                       _("the agent has no policy for the %(d)s domain") % {"d": prepared.domain})
    if prepared.action not in (policy.allowed_actions or []):
        return _reject(run, errors.STAGE_AGENT_POLICY, errors.ACTION_NOT_ALLOWED,
                       _("%(a)s is not among the allowed actions (%(l)s)")
                       % {"a": prepared.action, "l": ", ".join(policy.allowed_actions or []) or "-"})
    if policy.max_amount is not None and prepared.amount > policy.max_amount:
        return _reject(run, errors.STAGE_AGENT_POLICY, errors.AMOUNT_OVER_MAX,
                       _("amount %(a)d is over the agent's max_amount %(m)d")
                       % {"a": prepared.amount, "m": policy.max_amount})
    autonomy = autonomy_resolve(agent_id=agent.pk, action=prepared.action)
    stats = (_lock_stats(agent.pk, run.day)
             if policy.daily_limit is not None or autonomy.max_daily_actions is not None else None)
    used = None
    if policy.daily_limit is not None:
        start, end = _day_bounds(now)
        used = AgentDecision.objects.filter(agent=agent, domain=prepared.domain, counted=True, created_at__gte=start,
                                            created_at__lt=end).count()
        if used >= policy.daily_limit:
            return _reject(run, errors.STAGE_AGENT_POLICY, errors.DAILY_LIMIT_REACHED,
                           _("%(u)d of %(l)d %(d)s actions taken today")
                           % {"u": used, "l": policy.daily_limit, "d": prepared.domain})
    run.add(errors.STAGE_AGENT_POLICY, errors.WITHIN_AGENT_POLICY,
            _("action allowed; amount %(a)d within %(m)s; %(u)s of %(l)s actions today")
            % {"a": prepared.amount, "m": policy.max_amount if policy.max_amount is not None else "no limit",
               "u": used if used is not None else "-",
               "l": policy.daily_limit if policy.daily_limit is not None else "no limit"})

    # 3. risk
    assessment = risk_assess_decision(
        agent=agent, app_id=decision.app_id, target_entity=prepared.target_entity, amount=prepared.amount,
        amount_limit=policy.max_amount or autonomy.max_amount_per_action, now=now)
    decision.risk_score, decision.risk_level = assessment.score, assessment.level
    decision.risk_factors = assessment.factors_json()
    risk_detail = _("score %(s).3f (%(l)s), limit %(m)s") % {
        "s": assessment.score, "l": assessment.level,
        "m": f"{policy.max_risk_score:g}" if policy.max_risk_score is not None else _("none")}
    if policy.max_risk_score is not None and assessment.score > policy.max_risk_score:
        return _reject(run, errors.STAGE_RISK, errors.RISK_OVER_MAX, risk_detail)
    run.add(errors.STAGE_RISK, errors.RISK_WITHIN_LIMIT, risk_detail)

    # 4. the policy engine
    evaluation = policy_evaluate(resource=prepared.domain, action=prepared.action,
                                 context=_policy_context(agent, decision, prepared, now), actor_id=agent.pk)
    decision.policy_evaluation_id = evaluation.evaluation_id
    decision._policy_id = evaluation.policy_id
    policy_detail = _describe_policy(evaluation)
    if evaluation.denied:
        return _reject(run, errors.STAGE_POLICY, errors.POLICY_DENIED, policy_detail)
    needs_approval = evaluation.requires_approval
    run.add(errors.STAGE_POLICY, errors.POLICY_REQUIRES_APPROVAL if needs_approval else errors.POLICY_ALLOWED,
            policy_detail)

    # 5. autonomy
    decision.autonomy_level = autonomy.level
    level_detail = _("level %(l)d (%(s)s)") % {"l": autonomy.level, "s": autonomy.source}
    if autonomy.level == AutonomyLevel.FORBIDDEN:
        return _reject(run, errors.STAGE_AUTONOMY, errors.AUTONOMY_FORBIDDEN,
                       _("%(d)s: the agent may not take this action") % {"d": level_detail})
    if autonomy.max_amount_per_action is not None and prepared.amount > autonomy.max_amount_per_action:
        return _reject(run, errors.STAGE_AUTONOMY, errors.AUTONOMY_AMOUNT_LIMIT,
                       _("amount %(a)d is over the profile's max_amount_per_action %(m)d")
                       % {"a": prepared.amount, "m": autonomy.max_amount_per_action})
    if autonomy.max_daily_actions is not None and stats.actions_count >= autonomy.max_daily_actions:
        return _reject(run, errors.STAGE_AUTONOMY, errors.AUTONOMY_DAILY_LIMIT,
                       _("%(u)d of the profile's %(m)d daily actions taken")
                       % {"u": stats.actions_count, "m": autonomy.max_daily_actions})
    decision.counted = True
    run.counts.actions = 1
    if autonomy.level == AutonomyLevel.SHADOW:
        return _shadow(run, executor, prepared, level_detail)
    run.add(errors.STAGE_AUTONOMY, errors.AUTONOMY_FULL if autonomy.level == AutonomyLevel.FULL
            else errors.AUTONOMY_AUDITED, _("%(d)s: may execute") % {"d": level_detail})

    # 6. approval
    if needs_approval or policy.requires_approval:
        return _hold_for_approval(run, agent, prepared, evaluation, by_policy=needs_approval,
                                  by_agent_policy=policy.requires_approval)

    # 7. execution
    run.counts.approved = 1
    log = _execute(decision, executor, prepared, executed_by=ExecutedBy.AGENT, approved_by=None, counts=run.counts)
    decision.last_execution = log
    _count(agent.pk, run.day, run.counts, now)
    return decision


def _policy_context(agent: Agent, decision: AgentDecision, prepared: PreparedAction, now: datetime) -> dict[str, Any]:
    local = timezone.localtime(now)
    return {
        **prepared.context,
        "agent": {"id": str(agent.pk), "name": agent.name, "type": agent.type},
        "agent_id": str(agent.pk), "agent_type": agent.type, "tenant_id": str(agent.tenant_id),
        "app_id": str(decision.app_id) if decision.app_id else None,
        "domain": prepared.domain, "action": prepared.action, "target_entity": prepared.target_entity,
        "target_type": prepared.target_type, "target_id": prepared.target_id, "amount": prepared.amount,
        "risk_score": decision.risk_score, "risk_level": decision.risk_level,
        "hour": local.hour, "weekday": local.isoweekday(),
    }


def _describe_policy(evaluation) -> str:
    if evaluation.default_applied:
        return evaluation.reason
    return _("%(name)s v%(v)s: %(reason)s") % {"name": evaluation.policy_name, "v": evaluation.policy_version,
                                                "reason": evaluation.reason}


def _finish(run: _Proposal) -> AgentDecision:
    decision = run.decision
    _save(decision, why=decision.outcome)
    audit_record(events.AGENT_DECISION_PROPOSED, action="propose", target_type="agent_decision",
                 target_id=decision.pk, after=_summary(decision), policy_id=_policy_of(decision),
                 metadata={"approval_request_id": str(decision.approval_request_id)
                           if decision.approval_request_id else None}, **_audit_actor(decision))
    _count(decision.agent_id, run.day, run.counts, run.now)
    return decision


def _policy_of(decision: AgentDecision) -> Any:
    return getattr(decision, "_policy_id", None)


def _reject(run: _Proposal, stage: str, code: str, detail: str) -> AgentDecision:
    run.add(stage, code, detail)
    decision = run.decision
    decision.status, decision.outcome, decision.decided_at = Status.REJECTED, Outcome.REJECTED, run.now
    run.counts.rejected = 1
    return _finish(run)


def _shadow(run: _Proposal, executor: Executor, prepared: PreparedAction, level_detail: str) -> AgentDecision:
    decision = run.decision
    simulation = executor.simulate(prepared)
    why = _("autonomy level 1 (shadow): simulated, not executed")
    shadow = shadow_record(
        agent_id=decision.agent_id, domain=prepared.domain, action=prepared.action,
        intent={"decision_id": str(decision.pk), "target_entity": prepared.target_entity,
                "payload": prepared.payload, "amount": prepared.amount},
        simulation=simulation, reason=why, decision_id=decision.pk)
    decision.shadow_execution = shadow
    would = _("the domain would apply it") if simulation.get("would_apply") else (
        _("the domain would refuse it: %(c)s") % {"c": simulation.get("code")})
    run.add(errors.STAGE_AUTONOMY, errors.AUTONOMY_SHADOW, f"{level_detail}: {why}; {would}")
    decision.status, decision.outcome, decision.decided_at = Status.REJECTED, Outcome.SHADOWED, run.now
    run.counts.shadowed = 1
    return _finish(run)


def _hold_for_approval(run: _Proposal, agent: Agent, prepared: PreparedAction, evaluation, *, by_policy: bool,
                       by_agent_policy: bool) -> AgentDecision:
    decision = run.decision
    request = approval_request_create(
        domain=prepared.domain, action=prepared.action, amount=prepared.amount, risk=decision.risk_score,
        context={"decision_id": str(decision.pk), "agent": {"id": str(agent.pk), "name": agent.name,
                                                            "type": agent.type},
                 "target_entity": prepared.target_entity, "amount": prepared.amount,
                 "risk": {"score": decision.risk_score, "level": decision.risk_level},
                 "facts": prepared.context, "reasons": list(decision.reasons)},
        requested_by=agent.pk, requested_by_type="agent", reference=str(decision.pk),
        target_type=prepared.target_type, target_id=prepared.target_id, callback=CALLBACK,
        expires_at=decision.expires_at, policy_evaluation_id=evaluation.evaluation_id,
        # The requester is the agent, not a person: its owners and the account holder its target reaches are the
        # people the request acts for, and none of them may approve it.
        on_behalf_of=decision_parties(agent=agent, app_id=decision.app_id, target_type=prepared.target_type,
                                      target_id=prepared.target_id),
    )
    decision.approval_request = request
    required_by = [name for name, flag in ((_("the policy engine"), by_policy),
                                           (_("the agent's policy"), by_agent_policy)) if flag]
    run.add(errors.STAGE_APPROVAL, errors.APPROVAL_REQUIRED,
            _("required by %(by)s: request %(id)s (%(impact)s impact) until %(until)s")
            % {"by": _(" and ").join(required_by), "id": request.pk, "impact": request.impact,
               "until": request.expires_at.isoformat()})
    decision.outcome = Outcome.PENDING_APPROVAL
    return _finish(run)


# --- execution --------------------------------------------------------------------------------------------------------


def _execute(decision: AgentDecision, executor: Executor, prepared: PreparedAction, *, executed_by: str,
             approved_by: Any, counts: _Counts) -> AgentExecutionLog:
    """Run the executor (a refusal rolls back only the domain's own savepoint), then record the outcome."""
    ctx = ExecutionContext(decision_id=decision.pk, agent_id=decision.agent_id, app_id=decision.app_id,
                           approved_by=approved_by)
    # A request the domain opens while executing (a payout above the approval threshold) acts for the agent's
    # owners and the account holder too: the domain cannot know them, the scope tells governance.
    parties = decision_parties(agent=decision.agent, app_id=decision.app_id, target_type=prepared.target_type,
                               target_id=prepared.target_id)
    with (audit_context.scope(actor_id=decision.agent_id, actor_type="agent", app_id=decision.app_id),
          approval_parties_scope(parties)):
        try:
            result, failure = executor.execute(prepared, ctx), None
        except ServiceError as exc:
            result, failure = {}, exc
            if exc.records_refusal:
                # The domain's savepoint is rolled back; the refusal's event commits with the decision.
                exc.record_refusal()
    if failure is None:
        return _record_execution(decision, executed_by=executed_by, approved_by=approved_by, result=result,
                                 counts=counts, prepared=prepared, parties=parties)
    return _record_execution(decision, executed_by=executed_by, approved_by=approved_by, error_code=failure.code,
                             error_message=failure.message, counts=counts)


def _record_execution(decision: AgentDecision, *, executed_by: str, approved_by: Any, counts: _Counts,
                      result: dict[str, Any] | None = None, error_code: str = "",
                      error_message: str = "", prepared: PreparedAction | None = None,
                      parties: list | None = None) -> AgentExecutionLog:
    now = timezone.now()
    ok = not error_code
    if ok:
        decision.reasons.append(reason(errors.STAGE_EXECUTION, errors.EXECUTED,
                                       _("executed by the %(d)s domain") % {"d": decision.domain}))
        decision.status, decision.outcome = Status.EXECUTED, Outcome.EXECUTED
        counts.executed += 1
    else:
        decision.reasons.append(reason(errors.STAGE_EXECUTION, error_code, error_message))
        decision.status, decision.outcome = Status.REJECTED, Outcome.REJECTED
        counts.rejected += 1
    decision.decided_at = now
    proposing = decision._state.adding
    _save(decision, why="executed" if ok else "execution failed", user=approved_by)
    log = AgentExecutionLog.objects.create(
        decision=decision, agent_id=decision.agent_id, executed_by=executed_by, action=decision.proposed_action,
        result=AgentExecutionLog.Result.SUCCESS if ok else AgentExecutionLog.Result.FAILED, executed_at=now,
        domain=decision.domain, target_entity=decision.target_entity, approved_by=approved_by,
        autonomy_level=decision.autonomy_level, detail=result or {}, error_code=error_code,
        error_message=error_message[:4000])
    if proposing:
        audit_record(events.AGENT_DECISION_PROPOSED, action="propose", target_type="agent_decision",
                     target_id=decision.pk, after=_summary(decision), policy_id=_policy_of(decision),
                     **_audit_actor(decision))
    audit_record(events.AGENT_DECISION_EXECUTED if ok else events.AGENT_DECISION_FAILED, action="execute",
                 target_type="agent_decision", target_id=decision.pk,
                 after={"result": log.result, "error_code": error_code, "log_id": str(log.pk)},
                 reason=error_message, metadata={"executed_by": executed_by,
                                                 "approved_by": str(approved_by.pk) if approved_by else None,
                                                 "row_digest": row_digest(log)},
                 **_audit_actor(decision))
    if ok and prepared is not None:
        # An autonomous execution opens the lifecycle here; an approved one opened it at approval (idempotent).
        # The parties the execution ran for, when known, are the ones memory keeps (not looked up twice).
        decision_remember(decision, target_type=prepared.target_type, target_id=prepared.target_id,
                          facts=prepared.context, approved_by=approved_by, parties=parties)
    elif not ok:
        decision_forget_failed(decision, code=error_code, message=error_message)
    return log


# --- approval callbacks -------------------------------------------------------------------------------------------


def _locked_decision(request: ApprovalRequest) -> AgentDecision | None:
    return (AgentDecision.objects.select_for_update(of=("self",)).select_related("agent")
            .filter(approval_request_id=request.pk).first())


def _decider(request: ApprovalRequest, decision: str):
    row = (ApprovalDecision.objects.select_related("decided_by").filter(request=request, decision=decision)
           .order_by("-sequence").first())
    return row.decided_by if row else None


@transaction.atomic
def decision_approval_approved(request: ApprovalRequest) -> None:
    """The ``agents`` approval callback for an approved request: execute the decision once.

    At execution time the ``all``/``agents``/domain kill switches, the agent's status and the target (still in
    the tenant) are checked again, and the domain's services apply their own rules: a refusal ends the decision
    ``rejected`` with the reason, recorded as a failed execution. A second delivery finds the decision final and
    does nothing."""
    decision = _locked_decision(request)
    if decision is None or decision.status != Status.PROPOSED:
        return
    now = timezone.now()
    approver = _decider(request, ApprovalDecision.Decision.APPROVED)
    counts = _Counts(approved=1)
    decision.last_execution = None
    decision.reviewed_by = approver
    decision.reasons = [*decision.reasons, reason(errors.STAGE_APPROVAL, errors.APPROVAL_APPROVED,
                                                   _("approved by %(who)s") % {"who": approver or "-"})]
    decision.status = Status.APPROVED
    _save(decision, why="approved", user=approver)
    decision_remember(decision, target_type=request.target_type, target_id=request.target_id,
                      facts=(request.context or {}).get("facts"), approved_by=approver)
    failure = _execution_blocker(decision)
    if failure is not None:
        code, message = failure
        decision.last_execution = _record_execution(decision, executed_by=ExecutedBy.HUMAN, approved_by=approver,
                                                    error_code=code, error_message=message, counts=counts)
    else:
        executor = executor_get(decision.domain, decision.proposed_action)
        try:
            prepared = executor_prepare(executor, tenant_id=decision.tenant_id, app_id=decision.app_id,
                                        target_entity=decision.target_entity, payload=decision.payload)
        except ServiceError as exc:
            decision.last_execution = _record_execution(decision, executed_by=ExecutedBy.HUMAN,
                                                        approved_by=approver, error_code=exc.code,
                                                        error_message=exc.message, counts=counts)
        else:
            decision.last_execution = _execute(decision, executor, prepared, executed_by=ExecutedBy.HUMAN,
                                               approved_by=approver, counts=counts)
    _count(decision.agent_id, timezone.localdate(now), counts, now)


def _execution_blocker(decision: AgentDecision) -> tuple[str, str] | None:
    halted = killswitch_halted_scopes(AGENTS_SCOPE, decision.domain)
    if halted:
        return errors.KILL_SWITCH_ACTIVE, _halted_detail(halted)
    agent = decision.agent
    if not agent.is_active:
        return errors.AGENT_SUSPENDED, _("the agent was suspended while the decision waited")
    if decision.app_id and not Application.objects.filter(pk=decision.app_id,
                                                          status=Application.Status.ACTIVE).exists():
        return errors.APP_INACTIVE, _("the agent's application is no longer active")
    try:
        executor_get(decision.domain, decision.proposed_action)
    except InvalidInput as exc:
        return exc.code, exc.message
    return None


@transaction.atomic
def decision_approval_rejected(request: ApprovalRequest) -> None:
    """The ``agents`` approval callback for a rejected or expired request: the decision ends ``rejected`` and
    nothing is executed. A second delivery does nothing."""
    decision = _locked_decision(request)
    if decision is None or decision.status != Status.PROPOSED:
        return
    now = timezone.now()
    expired = request.status == ApprovalRequest.Status.EXPIRED
    rejecter = None if expired else _decider(request, ApprovalDecision.Decision.REJECTED)
    if expired:
        entry = reason(errors.STAGE_APPROVAL, errors.APPROVAL_EXPIRED,
                       _("nobody decided before %(t)s") % {"t": request.expires_at.isoformat()})
    else:
        entry = reason(errors.STAGE_APPROVAL, errors.APPROVAL_REJECTED,
                       _("rejected by %(who)s") % {"who": rejecter or "-"})
    decision.reasons = [*decision.reasons, entry]
    decision.status, decision.outcome, decision.decided_at = Status.REJECTED, Outcome.REJECTED, now
    decision.reviewed_by = rejecter
    _save(decision, why="approval expired" if expired else "approval rejected", user=rejecter)
    audit_record(events.AGENT_DECISION_REJECTED, action="reject", target_type="agent_decision", target_id=decision.pk,
                 before={"status": Status.PROPOSED}, after=_summary(decision), reason=entry["detail"],
                 metadata={"approval_request_id": str(request.pk), "approval_status": request.status},
                 **_audit_actor(decision))
    _count(decision.agent_id, timezone.localdate(now), _Counts(rejected=1), now)
