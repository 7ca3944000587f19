"""Risk scores: the current score of each app (and of each of its agents), their history, per-app weights."""
from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from audit.immutable import AppendOnlyModel
from identity.history import history_user


class RiskLevel(models.TextChoices):
    LOW = "low", _("low")
    MEDIUM = "medium", _("medium")
    HIGH = "high", _("high")
    CRITICAL = "critical", _("critical")


class RiskScore(models.Model):
    """The latest score of an app (``agent`` empty) or of one of its agents, with the factors that produced it.

    Rewritten by the scheduled recomputation; every recomputation also appends the row to ``risk_history``,
    which is this table's history.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey("identity.Application", on_delete=models.CASCADE, related_name="risk_scores",
                            db_column="app_id", verbose_name=_("application"))
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, null=True, blank=True,
                              related_name="risk_scores", db_column="agent_id", verbose_name=_("agent"))
    score = models.FloatField(_("score"))
    level = models.CharField(_("level"), max_length=16, choices=RiskLevel.choices)
    factors = models.JSONField(_("factors"), default=list, blank=True)
    calculated_at = models.DateTimeField(_("calculated at"), default=timezone.now)

    class Meta:
        db_table = "risk_scores"
        verbose_name = _("risk score")
        verbose_name_plural = _("risk scores")
        ordering = ["-score"]
        constraints = [
            models.UniqueConstraint(fields=["app"], condition=Q(agent__isnull=True), name="uniq_risk_score_app"),
            models.UniqueConstraint(fields=["app", "agent"], condition=Q(agent__isnull=False),
                                    name="uniq_risk_score_agent"),
            models.CheckConstraint(condition=Q(score__gte=0) & Q(score__lte=1), name="risk_score_in_range"),
        ]

    def __str__(self) -> str:
        return f"{self.app_id}{'/' + str(self.agent_id) if self.agent_id else ''}: {self.score:.2f} ({self.level})"


class RiskHistory(AppendOnlyModel):
    """Every recomputed score, kept (append-only)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey("identity.Application", on_delete=models.PROTECT, related_name="+", db_column="app_id",
                            verbose_name=_("application"))
    agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                              db_column="agent_id", verbose_name=_("agent"))
    score = models.FloatField(_("score"))
    level = models.CharField(_("level"), max_length=16, choices=RiskLevel.choices)
    factors = models.JSONField(_("factors"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        db_table = "risk_history"
        verbose_name = _("risk history")
        verbose_name_plural = _("risk history")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["app", "-created_at"], name="idx_risk_history_app")]

    def __str__(self) -> str:
        return f"{self.app_id} {self.created_at:%Y-%m-%d %H:%M}: {self.score:.2f}"


class RiskConfig(models.Model):
    """An app's own factor weights (``custom_weights``: factor → weight ≥ 0, 0 leaves a factor out) and
    ``thresholds`` (the scores where medium, high and critical start, and the references of the velocity and
    amount factors). What is not given keeps its default."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.OneToOneField("identity.Application", on_delete=models.CASCADE, related_name="risk_config",
                               db_column="app_id", verbose_name=_("application"))
    custom_weights = models.JSONField(_("custom weights"), default=dict, blank=True)
    thresholds = models.JSONField(_("thresholds"), default=dict, blank=True)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        db_table = "risk_configs"
        verbose_name = _("risk configuration")
        verbose_name_plural = _("risk configurations")
        ordering = ["app"]

    def __str__(self) -> str:
        return f"risk configuration of {self.app_id}"
