"""Agents (governed software that proposes actions) and their policies per domain."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from identity.history import history_user


class AgentQuerySet(models.QuerySet):
    def for_tenant(self, tenant_id) -> AgentQuerySet:
        return self.filter(tenant_id=tenant_id)

    def active(self) -> AgentQuerySet:
        return self.filter(status=Agent.Status.ACTIVE)


class Agent(models.Model):
    """A governed agent of a tenant. Operators and executors propose decisions; observers post suggestions."""

    class Type(models.TextChoices):
        OBSERVER = "observer", _("observer")
        OPERATOR = "operator", _("operator")
        EXECUTOR = "executor", _("executor")

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        SUSPENDED = "suspended", _("suspended")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                               db_column="tenant_id", verbose_name=_("tenant"))
    app = models.ForeignKey("identity.Application", on_delete=models.PROTECT, null=True, blank=True,
                            related_name="agents", db_column="app_id", verbose_name=_("application"))
    name = models.CharField(_("name"), max_length=200)
    type = models.CharField(_("type"), max_length=16, choices=Type.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    history = HistoricalRecords(get_user=history_user)
    objects = AgentQuerySet.as_manager()

    class Meta:
        db_table = "agents"
        verbose_name = _("agent")
        verbose_name_plural = _("agents")
        ordering = ["name"]
        indexes = [models.Index(fields=["tenant", "name"], name="idx_agents_tenant")]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="uniq_agent_name_per_tenant"),
            models.CheckConstraint(condition=Q(type__in=["observer", "operator", "executor"]),
                                   name="agent_type_valid"),
            models.CheckConstraint(condition=Q(status__in=["active", "suspended"]), name="agent_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.type})"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class AgentPolicy(models.Model):
    """What an agent may do in one domain: which actions, up to which amount, how often, how risky, and whether
    every action needs a person's approval. No policy for a domain: the agent may do nothing there."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="policies", db_column="agent_id",
                              verbose_name=_("agent"))
    domain = models.CharField(_("domain"), max_length=64)
    max_amount = models.BigIntegerField(_("max amount (cents)"), null=True, blank=True,
                                        help_text=_("Largest amount of one action; empty: no limit."))
    allowed_actions = models.JSONField(_("allowed actions"), default=list, blank=True,
                                       help_text=_('A JSON list, e.g. ["pause_campaign", "set_budget"].'))
    requires_approval = models.BooleanField(_("requires approval"), default=False,
                                            help_text=_("Every action of this domain waits for a person."))
    max_risk_score = models.FloatField(_("max risk score"), null=True, blank=True,
                                       help_text=_("0 to 1; a riskier decision is rejected. Empty: no limit."))
    daily_limit = models.PositiveIntegerField(_("daily limit"), null=True, blank=True,
                                              help_text=_("Actions per day in this domain; empty: no limit."))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        db_table = "agent_policies"
        verbose_name = _("agent policy")
        verbose_name_plural = _("agent policies")
        ordering = ["agent", "domain"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "domain"], name="uniq_agent_policy_domain"),
            models.CheckConstraint(condition=Q(max_amount__isnull=True) | Q(max_amount__gte=0),
                                   name="agent_policy_max_amount_not_negative"),
            models.CheckConstraint(condition=Q(max_risk_score__isnull=True)
                                   | (Q(max_risk_score__gte=0) & Q(max_risk_score__lte=1)),
                                   name="agent_policy_max_risk_in_range"),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id}:{self.domain}"
