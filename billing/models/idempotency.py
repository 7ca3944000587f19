"""Stored results of requests made with an ``Idempotency-Key`` (not a catalog table)."""
from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.integrity.chain import HASH_MAX_LENGTH


class IdempotencyKey(models.Model):
    """The first result of a request, replayed to every later request with the same scope and key."""

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", _("in progress")
        COMPLETED = "completed", _("completed")

    id = models.BigAutoField(primary_key=True)
    # Whose key this is: an application id for API calls, "console:<user id>" or "system:<name>" otherwise.
    scope = models.CharField(_("scope"), max_length=128)
    key = models.CharField(_("key"), max_length=255)
    request_hash = models.CharField(_("request hash"), max_length=HASH_MAX_LENGTH)
    method = models.CharField(_("method"), max_length=8, blank=True, default="")
    path = models.CharField(_("path"), max_length=512, blank=True, default="")
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(_("response status"), null=True, blank=True)
    response_body = models.JSONField(_("response body"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("kept until"))

    class Meta:
        db_table = "idempotency_keys"
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="uniq_idempotency_scope_key")]
        indexes = [models.Index(fields=["expires_at"], name="idx_idempotency_expires")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"
