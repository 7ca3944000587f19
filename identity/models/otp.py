"""Phone sign-in state: pending verifications, rate-limit counters and the sessions they open."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from identity.history import history_user
from identity.models.users import User

# ``blocked_until`` of a block that only an administrator lifts.
BLOCKED_UNTIL_CLEARED = datetime(9999, 12, 31, tzinfo=UTC)


class PendingVerification(models.Model):
    """One OTP challenge. The code exists only as a keyed hash bound to this row's id.

    No history table: every attempt changes ``attempts``, and the transitions that matter (started, failed,
    burned, verified) are audit events.
    """

    class Channel(models.TextChoices):
        SMS = "sms", _("SMS")
        WHATSAPP = "whatsapp", _("WhatsApp")

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        VERIFIED = "verified", _("verified")
        BURNED = "burned", _("burned")

    class Delivery(models.TextChoices):
        QUEUED = "queued", _("queued")
        SENT = "sent", _("sent")
        SKIPPED = "skipped", _("skipped (no longer pending)")

    verification_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    phone_number = models.CharField(_("phone number"), max_length=20, db_index=True)
    code_hash = models.CharField(_("code hash"), max_length=64, editable=False)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices, default=Channel.SMS)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    expires_at = models.DateTimeField(_("expires at"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    delivery_status = models.CharField(_("delivery"), max_length=16, choices=Delivery.choices,
                                       default=Delivery.QUEUED)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    # Set when an application asked the person to prove, through it, that they hold the identity (the code then
    # proves that link, ``app_users.verified_at``, and signs nobody in).
    app_user = models.ForeignKey("identity.AppUser", on_delete=models.CASCADE, null=True, blank=True,
                                 related_name="verifications", db_column="app_user_id", verbose_name=_("app user"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)

    class Meta:
        db_table = "pending_verifications"
        verbose_name = _("pending verification")
        verbose_name_plural = _("pending verifications")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.phone_number} ({self.status})"

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at <= (now or timezone.now())


class RateLimitEntry(models.Model):
    """A counter for one key (``phone:+55…``, ``ip:192…``, ``prefix:+55119…``) and one action.

    Send counters use a fixed window; the failure counter counts consecutive wrong codes for a phone and is reset
    by a successful sign-in. Counters change on every request, so there is no history table; blocks and their
    clearing are audit events.
    """

    class Action(models.TextChoices):
        OTP_SEND = "otp_send", _("codes sent")
        OTP_FAILURE = "otp_failure", _("consecutive wrong codes")
        CONSOLE_LOGIN = "console_login", _("failed console sign-ins")

    class BlockReason(models.TextChoices):
        NONE = "", _("not blocked")
        WINDOW_LIMIT = "window_limit", _("limit reached for the window")
        FAILURES = "failures", _("too many consecutive failures (until cleared)")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    key = models.CharField(_("key"), max_length=80)
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    attempt_count = models.PositiveIntegerField(_("attempt count"), default=0)
    window_started_at = models.DateTimeField(_("window started at"), default=timezone.now)
    blocked_until = models.DateTimeField(_("blocked until"), null=True, blank=True)
    blocked_reason = models.CharField(_("block reason"), max_length=16, choices=BlockReason.choices, blank=True,
                                      default=BlockReason.NONE)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        db_table = "rate_limit_entries"
        verbose_name = _("rate-limit entry")
        verbose_name_plural = _("rate-limit entries")
        ordering = ["-updated_at"]
        constraints = [models.UniqueConstraint(fields=["key", "action"], name="uniq_rate_limit_key_action")]
        indexes = [models.Index(fields=["blocked_until"], name="idx_rate_limit_blocked")]

    def __str__(self) -> str:
        return f"{self.key} {self.action}"

    def is_blocked(self, now: datetime | None = None) -> bool:
        return self.blocked_until is not None and self.blocked_until > (now or timezone.now())


class SessionQuerySet(models.QuerySet):
    def active(self, now: datetime | None = None) -> SessionQuerySet:
        return self.filter(is_active=True, expires_at__gt=now or timezone.now())


class SovereignSession(models.Model):
    """A signed-in user's session. The bearer token is never stored: only its keyed hash."""

    session_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, db_column="user_id", related_name="sovereign_sessions",
                             verbose_name=_("user"))
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True, editable=False)
    device_fingerprint = models.CharField(_("device fingerprint"), max_length=255, blank=True, default="")
    expires_at = models.DateTimeField(_("expires at"))
    is_active = models.BooleanField(_("active"), default=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=512, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_reason = models.CharField(_("revoked because"), max_length=64, blank=True, default="")

    objects = SessionQuerySet.as_manager()
    history = HistoricalRecords(get_user=history_user, excluded_fields=["token_hash"])

    class Meta:
        db_table = "sovereign_sessions"
        verbose_name = _("session")
        verbose_name_plural = _("sessions")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "is_active"], name="idx_sessions_user_active")]

    def __str__(self) -> str:
        return f"{self.session_id} ({self.user_id})"

    def is_usable(self, now: datetime | None = None) -> bool:
        return self.is_active and self.expires_at > (now or timezone.now())
