"""Catalog domain Policy: declarative policies and the record of every evaluation."""
from __future__ import annotations

import re
import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from governance.conditions import validate_conditions

# Resource and action names: a word of lowercase letters, digits, '_', '-', '.', ':' — or the wildcard '*'.
NAME_PATTERN = re.compile(r"^(\*|[a-z0-9][a-z0-9_.:\-]{0,63})$")


class PolicyEffect(models.TextChoices):
    ALLOW = "allow", _("allow")
    DENY = "deny", _("deny")
    REQUIRE_APPROVAL = "require_approval", _("require approval")


class PolicyResult(models.TextChoices):
    ALLOWED = "allowed", _("allowed")
    DENIED = "denied", _("denied")
    PENDING_APPROVAL = "pending_approval", _("pending approval")


EFFECT_RESULT = {
    PolicyEffect.ALLOW: PolicyResult.ALLOWED,
    PolicyEffect.DENY: PolicyResult.DENIED,
    PolicyEffect.REQUIRE_APPROVAL: PolicyResult.PENDING_APPROVAL,
}
# Ties in priority: deny first, then require_approval, then allow.
EFFECT_RANK = {PolicyEffect.DENY: 0, PolicyEffect.REQUIRE_APPROVAL: 1, PolicyEffect.ALLOW: 2}


def validate_resource_name(value: str) -> None:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise ValidationError(
            _("Use '*' or a name of lowercase letters, digits, '_', '-', '.' or ':' (at most 64 characters)."),
            code="invalid_name",
        )


class PolicyQuerySet(models.QuerySet):
    def active(self) -> PolicyQuerySet:
        return self.filter(active=True)


class Policy(models.Model):
    """A declarative rule: for (resource, action), when every condition holds, the effect applies.

    ``version`` starts at 1 and grows by one with every saved change (the services do it); the historical
    record of each version stays in ``policies_history``, and evaluations point at the version that decided.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(_("name"), max_length=128, unique=True)
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    resource = models.CharField(_("resource"), max_length=64, validators=[validate_resource_name],
                                help_text=_("ledger, agent, ads, billing… or * for every resource."))
    action = models.CharField(_("action"), max_length=64, validators=[validate_resource_name],
                              help_text=_("debit, execute, payout… or * for every action."))
    conditions = models.JSONField(
        _("conditions"), default=list, blank=True,
        help_text=_('A JSON list; all must hold. Each: {"field": "amount", "op": "gt", "value": 100000}. '
                    "Ops: eq ne gt gte lt lte in not_in contains exists."),
    )
    effect = models.CharField(_("effect"), max_length=24, choices=PolicyEffect.choices)
    reason = models.TextField(_("reason"), help_text=_("The human explanation given with every decision."))
    priority = models.IntegerField(_("priority"), default=0, help_text=_("Higher is evaluated first."))
    active = models.BooleanField(_("active"), default=False,
                                 help_text=_("New policies start as drafts: run the dry run, then activate."))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords(table_name="policies_history")
    objects = PolicyQuerySet.as_manager()

    class Meta:
        db_table = "policies"
        verbose_name = _("policy")
        verbose_name_plural = _("policies")
        ordering = ["-priority", "name"]
        indexes = [models.Index(fields=["active", "resource", "action"], name="idx_policies_lookup")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    def clean(self) -> None:
        errors = validate_conditions(self.conditions)
        if errors:
            raise ValidationError({"conditions": errors})


class PolicyEvaluation(models.Model):
    """One evaluation of the policy set for (resource, action, context), and its outcome.

    ``policy`` is null when no policy matched and the configured default decided. ``policy_version`` and
    ``policy_history`` name the exact version that decided: later edits of the policy never change them.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, null=True, blank=True, related_name="evaluations",
                               verbose_name=_("policy"))
    policy_name = models.CharField(_("policy name"), max_length=128, blank=True, default="")
    policy_version = models.PositiveIntegerField(_("policy version"), null=True, blank=True)
    policy_history = models.ForeignKey("governance.HistoricalPolicy", on_delete=models.PROTECT, null=True,
                                       blank=True, related_name="+", db_column="policy_history_id",
                                       verbose_name=_("policy version record"))
    resource = models.CharField(_("resource"), max_length=64)
    action = models.CharField(_("action"), max_length=64)
    context = models.JSONField(_("context"), default=dict, blank=True)
    result = models.CharField(_("result"), max_length=24, choices=PolicyResult.choices)
    reason = models.TextField(_("reason"), blank=True, default="")
    explanation = models.JSONField(_("explanation"), default=dict, blank=True)
    default_applied = models.BooleanField(_("default applied"), default=False)
    actor_id = models.UUIDField(_("actor"), null=True, blank=True)
    evaluated_at = models.DateTimeField(_("evaluated at"), default=timezone.now, db_index=True)

    class Meta:
        db_table = "policy_evaluations"
        verbose_name = _("policy evaluation")
        verbose_name_plural = _("policy evaluations")
        ordering = ["-evaluated_at"]
        indexes = [
            models.Index(fields=["resource", "action", "-evaluated_at"], name="idx_policy_eval_lookup"),
            models.Index(fields=["policy", "policy_version"], name="idx_policy_eval_policy"),
        ]

    def __str__(self) -> str:
        return f"{self.resource}:{self.action} → {self.result}"
