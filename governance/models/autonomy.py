"""Autonomy profiles (how far an agent may act alone) and shadow executions (what it would have done)."""
from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from governance.models.policies import NAME_PATTERN


class AutonomyLevel(models.IntegerChoices):
    FORBIDDEN = 0, _("forbidden")
    SHADOW = 1, _("shadow")
    AUDITED = 2, _("audited")
    FULL = 3, _("full")


def override_errors(overrides) -> list[str]:
    if not isinstance(overrides, dict):
        return [str(_("Action overrides must be a JSON object mapping action → level (0 to 3)."))]
    errors = []
    for action, level in overrides.items():
        if not NAME_PATTERN.match(action) or action == "*":
            errors.append(str(_("%(action)r is not an action name.") % {"action": action}))
        if isinstance(level, bool) or not isinstance(level, int) or level not in AutonomyLevel.values:
            errors.append(str(_("Level for %(action)r must be 0, 1, 2 or 3.") % {"action": action}))
    return errors


class AutonomyProfile(models.Model):
    """One per agent: the base level and per-action overrides. ``agent_id`` is the agent's id (not a foreign key:
    agents sit above governance)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    agent_id = models.UUIDField(_("agent"), unique=True)
    base_level = models.PositiveSmallIntegerField(_("base level"), choices=AutonomyLevel.choices,
                                                  default=AutonomyLevel.SHADOW)
    action_overrides = models.JSONField(_("action overrides"), default=dict, blank=True,
                                        help_text=_('Action → level, e.g. {"payout": 0, "pause_campaign": 3}.'))
    max_daily_actions = models.PositiveIntegerField(_("max daily actions"), null=True, blank=True,
                                                    help_text=_("Empty: no daily limit from the profile."))
    max_amount_per_action = models.PositiveBigIntegerField(_("max amount per action (cents)"), null=True,
                                                           blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords(table_name="autonomy_profiles_history")

    class Meta:
        db_table = "autonomy_profiles"
        verbose_name = _("autonomy profile")
        verbose_name_plural = _("autonomy profiles")
        ordering = ["agent_id"]

    def __str__(self) -> str:
        return f"{self.agent_id} ({self.get_base_level_display()})"

    def clean(self) -> None:
        errors = override_errors(self.action_overrides)
        if errors:
            raise ValidationError({"action_overrides": errors})

    def level_for(self, action: str) -> int:
        level = (self.action_overrides or {}).get(action)
        return int(level) if level is not None else int(self.base_level)


class ShadowExecution(models.Model):
    """What an agent in shadow mode meant to do and what the domain's simulation says would have happened.

    Nothing was executed; these rows are evidence, never requests (they are not approval requests and never
    reach the approval inbox).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    agent_id = models.UUIDField(_("agent"), db_index=True)
    decision_id = models.UUIDField(_("decision"), null=True, blank=True, db_index=True)
    domain = models.CharField(_("domain"), max_length=64)
    action = models.CharField(_("action"), max_length=64)
    intent = models.JSONField(_("intent"), default=dict)
    simulation = models.JSONField(_("simulation"), default=dict)
    reason = models.TextField(_("reason"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        db_table = "shadow_executions"
        verbose_name = _("shadow execution")
        verbose_name_plural = _("shadow executions")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.domain}:{self.action} by {self.agent_id}"
