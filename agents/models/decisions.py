"""Agents' decisions, the append-only log of their executions and the per-day counters."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from agents.models.agents import Agent
from audit.immutable import AppendOnlyModel
from identity.history import history_user


class Outcome(models.TextChoices):
    """What the pipeline did with a proposal (the API's ``outcome``)."""

    EXECUTED = "executed", _("executed")
    PENDING_APPROVAL = "pending_approval", _("pending approval")
    REJECTED = "rejected", _("rejected")
    SHADOWED = "shadowed", _("shadowed")


class AgentDecisionQuerySet(models.QuerySet):
    def for_tenant(self, tenant_id) -> AgentDecisionQuerySet:
        return self.filter(tenant_id=tenant_id)

    def pending(self) -> AgentDecisionQuerySet:
        return self.filter(status=AgentDecision.Status.PROPOSED)


class AgentDecision(models.Model):
    """One proposal of an agent and what became of it.

    ``status`` is the catalog's life cycle (proposed → approved → executed, or rejected); ``outcome`` is what the
    pipeline answered; ``reasons`` lists, stage by stage, what each stage decided (``{stage, code, detail}``).
    A shadowed decision is ``rejected`` with outcome ``shadowed``: it was simulated, nothing ran.
    """

    class Status(models.TextChoices):
        PROPOSED = "proposed", _("proposed")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")
        EXECUTED = "executed", _("executed")

    Outcome = Outcome

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="decisions", db_column="agent_id",
                              verbose_name=_("agent"))
    app = models.ForeignKey("identity.Application", on_delete=models.PROTECT, null=True, blank=True,
                            related_name="agent_decisions", db_column="app_id", verbose_name=_("application"))
    tenant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                               db_column="tenant_id", db_index=False, verbose_name=_("tenant"))
    domain = models.CharField(_("domain"), max_length=64)
    proposed_action = models.CharField(_("proposed action"), max_length=64)
    target_entity = models.CharField(_("target entity"), max_length=200, help_text=_("E.g. campaign:<uuid>."))
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    amount = models.BigIntegerField(_("amount (cents)"), default=0,
                                    help_text=_("The money the action involves (0 when none)."))
    risk_score = models.FloatField(_("risk score"), null=True, blank=True)
    risk_level = models.CharField(_("risk level"), max_length=16, blank=True, default="")
    risk_factors = models.JSONField(_("risk factors"), default=list, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PROPOSED)
    outcome = models.CharField(_("outcome"), max_length=24, choices=Outcome.choices, blank=True, default="")
    reasons = models.JSONField(_("reasons"), default=list, blank=True)
    autonomy_level = models.PositiveSmallIntegerField(_("autonomy level"), null=True, blank=True)
    counted = models.BooleanField(_("counts toward the daily limit"), default=False,
                                  help_text=_("Passed the gates: executed, awaiting approval or shadowed."))
    policy_evaluation = models.ForeignKey("governance.PolicyEvaluation", on_delete=models.PROTECT, null=True,
                                          blank=True, related_name="+", db_column="policy_evaluation_id",
                                          verbose_name=_("policy evaluation"))
    approval_request = models.OneToOneField("governance.ApprovalRequest", on_delete=models.PROTECT, null=True,
                                            blank=True, related_name="agent_decision",
                                            db_column="approval_request_id", verbose_name=_("approval request"))
    shadow_execution = models.OneToOneField("governance.ShadowExecution", on_delete=models.PROTECT, null=True,
                                            blank=True, related_name="agent_decision",
                                            db_column="shadow_execution_id", verbose_name=_("shadow execution"))
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+", db_column="reviewed_by", verbose_name=_("reviewed by"))
    expires_at = models.DateTimeField(_("expires at"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True,
                                      help_text=_("When it reached its final status."))

    history = HistoricalRecords(get_user=history_user)
    objects = AgentDecisionQuerySet.as_manager()

    class Meta:
        db_table = "agent_decisions"
        verbose_name = _("agent decision")
        verbose_name_plural = _("agent decisions")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["agent", "-created_at"], name="idx_agent_decisions_agent"),
            models.Index(fields=["agent", "target_entity"], name="idx_agent_decisions_target"),
            models.Index(fields=["agent", "domain", "created_at"], condition=Q(counted=True),
                         name="idx_agent_decisions_counted"),
            models.Index(fields=["tenant", "-created_at"], name="idx_agent_decisions_tenant"),
            models.Index(fields=["app", "-created_at"], name="idx_agent_decisions_app"),
            models.Index(fields=["status", "expires_at"], name="idx_agent_decisions_due"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["proposed", "approved", "rejected", "executed"]),
                                   name="agent_decision_status_valid"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="agent_decision_amount_not_negative"),
            models.CheckConstraint(condition=Q(risk_score__isnull=True)
                                   | (Q(risk_score__gte=0) & Q(risk_score__lte=1)),
                                   name="agent_decision_risk_in_range"),
        ]

    def __str__(self) -> str:
        return f"{self.domain}:{self.proposed_action} → {self.outcome or self.status}"

    @property
    def action(self) -> str:
        return self.proposed_action

    @property
    def is_final(self) -> bool:
        return self.status in (self.Status.REJECTED, self.Status.EXECUTED)


class ShadowDecision(AgentDecision):
    """The shadowed decisions, listed on their own in the console (a proxy: no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = _("shadow decision")
        verbose_name_plural = _("shadow decisions")
        ordering = ["-created_at"]


class AgentExecutionLog(AppendOnlyModel):
    """One execution of a decision, by the agent (autonomous) or after a person's approval, and its result.
    Append-only in Django and in the database."""

    class ExecutedBy(models.TextChoices):
        AGENT = "agent", _("agent")
        HUMAN = "human", _("human")

    class Result(models.TextChoices):
        SUCCESS = "success", _("success")
        FAILED = "failed", _("failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    decision = models.ForeignKey(AgentDecision, on_delete=models.PROTECT, related_name="executions",
                                 db_column="decision_id", verbose_name=_("decision"))
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="executions", db_column="agent_id",
                              verbose_name=_("agent"))
    executed_by = models.CharField(_("executed by"), max_length=8, choices=ExecutedBy.choices)
    action = models.CharField(_("action"), max_length=64)
    result = models.CharField(_("result"), max_length=8, choices=Result.choices)
    executed_at = models.DateTimeField(_("executed at"), default=timezone.now)
    domain = models.CharField(_("domain"), max_length=64)
    target_entity = models.CharField(_("target entity"), max_length=200)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+", db_column="approved_by", verbose_name=_("approved by"))
    autonomy_level = models.PositiveSmallIntegerField(_("autonomy level"), null=True, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    error_code = models.CharField(_("error code"), max_length=64, blank=True, default="")
    error_message = models.TextField(_("error message"), blank=True, default="")

    class Meta:
        db_table = "agent_execution_logs"
        verbose_name = _("agent execution log")
        verbose_name_plural = _("agent execution logs")
        ordering = ["-executed_at"]
        indexes = [
            models.Index(fields=["decision"], name="idx_agent_exec_decision"),
            models.Index(fields=["agent", "-executed_at"], name="idx_agent_exec_agent"),
        ]

    def __str__(self) -> str:
        return f"{self.action} by {self.executed_by}: {self.result}"


class AgentDailyStats(models.Model):
    """An agent's counters for one day (``TIME_ZONE``), raised in the same transaction as the decisions they count.

    ``proposals_count``: every proposal; ``actions_count``: proposals that passed the gates (executed, sent for
    approval or shadowed; what ``max_daily_actions`` caps); ``approved_count``: approved for execution, by the
    pipeline or by a person; ``rejected_count``: ended rejected, at any stage; ``executed_count`` and
    ``shadowed_count`` as their names say.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="daily_stats", db_column="agent_id",
                              verbose_name=_("agent"))
    date = models.DateField(_("date"))
    actions_count = models.PositiveIntegerField(_("actions"), default=0)
    approved_count = models.PositiveIntegerField(_("approved"), default=0)
    rejected_count = models.PositiveIntegerField(_("rejected"), default=0)
    proposals_count = models.PositiveIntegerField(_("proposals"), default=0)
    executed_count = models.PositiveIntegerField(_("executed"), default=0)
    shadowed_count = models.PositiveIntegerField(_("shadowed"), default=0)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        db_table = "agent_daily_stats"
        verbose_name = _("agent daily stats")
        verbose_name_plural = _("agent daily stats")
        ordering = ["-date", "agent"]
        constraints = [models.UniqueConstraint(fields=["agent", "date"], name="uniq_agent_daily_stats")]

    def __str__(self) -> str:
        return f"{self.agent_id} {self.date}: {self.actions_count} actions"
