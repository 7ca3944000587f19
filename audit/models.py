"""The audit log (catalog domain Audit) and its staging area."""
from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.fields import CanonicalJSONField
from audit.immutable import AppendOnlyModel
from core.integrity.chain import HASH_MAX_LENGTH


class ActorType(models.TextChoices):
    USER = "user", _("user")
    AGENT = "agent", _("agent")
    SYSTEM = "system", _("system")
    ADMIN = "admin", _("admin")
    APP = "app", _("application")


class EventContent(models.Model):
    """The fields an event carries, shared by the staged and the chained form."""

    type = models.CharField(_("type"), max_length=64)
    app_id = models.UUIDField(_("application"), null=True, blank=True)
    actor_id = models.UUIDField(_("actor"), null=True, blank=True)
    actor_type = models.CharField(_("actor type"), max_length=16, choices=ActorType.choices, default=ActorType.SYSTEM)
    target_id = models.UUIDField(_("target"), null=True, blank=True)
    target_type = models.CharField(_("target type"), max_length=64, blank=True, default="")
    action = models.CharField(_("action"), max_length=64)
    # TEXT holding canonical JSON, as the catalog says: see audit.fields.
    before = CanonicalJSONField(_("before"), null=True, blank=True)
    after = CanonicalJSONField(_("after"), null=True, blank=True)
    metadata = CanonicalJSONField(_("metadata"), default=dict, blank=True)
    policy_id = models.UUIDField(_("policy"), null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True, default="")
    ip = models.CharField(_("IP address"), max_length=45, null=True, blank=True)
    user_agent = models.TextField(_("user agent"), blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        abstract = True


class AuditEvent(AppendOnlyModel, EventContent):
    """A chained, immutable audit event. Written only by the sequencer."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    sequence = models.BigIntegerField(_("sequence"), unique=True)
    previous_hash = models.CharField(_("previous hash"), max_length=HASH_MAX_LENGTH)
    hash = models.CharField(_("hash"), max_length=HASH_MAX_LENGTH, unique=True)

    class Meta:
        db_table = "audit_events"
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-sequence"]
        indexes = [
            # The catalog's app index, extended by sequence: GET /api/v1/audit/events?after_sequence=N reads one
            # app's events in sequence order.
            models.Index(fields=["app_id", "sequence"], name="idx_audit_app"),
            models.Index(fields=["created_at"], name="idx_audit_created"),
            models.Index(fields=["target_type", "target_id"], name="idx_audit_target"),
            models.Index(fields=["actor_id"], name="idx_audit_actor"),
            models.Index(fields=["type"], name="idx_audit_type"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.type}"


class StagedEvent(EventContent):
    """An event recorded inside its caller's transaction, waiting for the sequencer to chain it.

    ``id`` orders staged events; ``event_id`` becomes the chained event's id.
    """

    id = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        db_table = "audit_staging"
        verbose_name = _("staged audit event")
        verbose_name_plural = _("staged audit events")

    def __str__(self) -> str:
        return f"staged {self.type} {self.event_id}"
