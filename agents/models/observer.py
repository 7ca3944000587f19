"""Observer agents' suggestions (``agent_memory``) and the people's decisions on them (``human_decisions``).
Both are append-only in Django and in the database: a suggestion's state is the decisions recorded on it."""
from __future__ import annotations

import json
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from agents.models.agents import Agent
from audit.immutable import AppendOnlyModel


class AgentMemory(AppendOnlyModel):
    """A suggestion: what an observer found, what it suggests, how confident it is, and the SHA-256 of the
    canonical JSON of the snapshot it observed. The canonical text is kept beside it (``snapshot``), so anyone can
    recompute the hash from the stored bytes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    agent_name = models.CharField(_("agent"), max_length=200, db_column="agent",
                                  help_text=_("The observer's name when it made the suggestion."))
    observer = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="suggestions", db_column="agent_id",
                                 verbose_name=_("observer"))
    tenant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                               db_column="tenant_id", db_index=False, verbose_name=_("tenant"))
    app = models.ForeignKey("identity.Application", on_delete=models.PROTECT, null=True, blank=True,
                            related_name="+", db_column="app_id", verbose_name=_("application"))
    confidence = models.FloatField(_("confidence"))
    finding = models.TextField(_("finding"))
    suggestion = models.TextField(_("suggestion"))
    snapshot = models.TextField(_("snapshot"), help_text=_("The canonical JSON of the snapshot: the bytes hashed."))
    snapshot_hash = models.CharField(_("snapshot hash"), max_length=64)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        db_table = "agent_memory"
        verbose_name = _("suggestion")
        verbose_name_plural = _("suggestions")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["agent_name"], name="idx_agent_memory_agent"),
            models.Index(fields=["created_at"], name="idx_agent_memory_created"),
            models.Index(fields=["tenant", "-created_at"], name="idx_agent_memory_tenant"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(confidence__gte=0) & Q(confidence__lte=1),
                                   name="agent_memory_confidence_in_range"),
        ]
        permissions = [("decide_suggestion", _("Can accept, ignore or defer observer suggestions"))]

    def __str__(self) -> str:
        return f"{self.agent_name}: {self.finding[:60]}"

    @property
    def snapshot_data(self):
        return json.loads(self.snapshot) if self.snapshot else None


class HumanDecision(AppendOnlyModel):
    """A person's decision on a suggestion, with their reason (at least 3 characters), IP and user agent.
    One per suggestion, unless the previous one was ``deferred``."""

    class Decision(models.TextChoices):
        ACCEPTED = "accepted", _("accepted")
        IGNORED = "ignored", _("ignored")
        DEFERRED = "deferred", _("deferred")

    class Channel(models.TextChoices):
        API = "api", _("API")
        CONSOLE = "console", _("console")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    suggestion = models.ForeignKey(AgentMemory, on_delete=models.PROTECT, related_name="decisions",
                                   db_column="suggestion_id", verbose_name=_("suggestion"))
    decision = models.CharField(_("decision"), max_length=16, choices=Decision.choices)
    reason = models.TextField(_("reason"))
    human = models.CharField(_("human"), max_length=200, help_text=_("Who decided, as shown to people."))
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                   db_column="decided_by_id", verbose_name=_("decided by"))
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices, default=Channel.API)
    ip = models.CharField(_("IP address"), max_length=45, null=True, blank=True)
    user_agent = models.TextField(_("user agent"), blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        db_table = "human_decisions"
        verbose_name = _("human decision")
        verbose_name_plural = _("human decisions")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["suggestion"], name="idx_human_decisions_suggestion"),
                   models.Index(fields=["created_at"], name="idx_human_decisions_created")]
        constraints = [
            # At most one final decision per suggestion, whatever races past the service's row lock.
            models.UniqueConstraint(fields=["suggestion"], condition=Q(decision__in=["accepted", "ignored"]),
                                    name="uniq_human_decision_final"),
            models.CheckConstraint(condition=Q(decision__in=["accepted", "ignored", "deferred"]),
                                   name="human_decision_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} by {self.human}"
