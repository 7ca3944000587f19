"""Applications (tenants' backends), their credentials, their users and their users' sessions."""
from __future__ import annotations

import uuid
from datetime import datetime

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from identity.history import history_user
from identity.models.users import User


class Scope(models.TextChoices):
    """What an app credential may reach; each API endpoint requires one."""

    IDENTITY = "identity", _("identity")
    BILLING = "billing", _("billing")
    ADS = "ads", _("ads")
    AGENTS = "agents", _("agents")
    OBSERVER = "observer", _("observer")
    AUDIT = "audit", _("audit")


class Application(models.Model):
    """An integrating application. Its owner is the tenant: ``tenant_id`` is ``owner_id``."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        SUSPENDED = "suspended", _("suspended")
        DELETED = "deleted", _("deleted")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=100, unique=True)
    owner = models.ForeignKey(User, on_delete=models.PROTECT, db_column="owner_id", related_name="applications",
                              verbose_name=_("owner"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    webhook_url = models.URLField(_("webhook URL"), max_length=500, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        db_table = "applications"
        verbose_name = _("application")
        verbose_name_plural = _("applications")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.owner_id


class AppCredential(models.Model):
    """A public key and a secret (kept only as a keyed hash) with the scopes they grant."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        # With its tenant's owner (identity.services.containment): it works again when the owner is reactivated.
        SUSPENDED = "suspended", _("suspended")
        REVOKED = "revoked", _("revoked")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey(Application, on_delete=models.CASCADE, db_column="app_id", related_name="credentials",
                            verbose_name=_("application"))
    name = models.CharField(_("name"), max_length=100)
    public_key = models.CharField(_("public key"), max_length=64, unique=True, editable=False)
    secret_hash = models.CharField(_("secret hash"), max_length=64, editable=False)
    scopes = models.JSONField(_("scopes"), default=list)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                   verbose_name=_("created by"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    history = HistoricalRecords(get_user=history_user, excluded_fields=["secret_hash"])

    class Meta:
        db_table = "app_credentials"
        verbose_name = _("app credential")
        verbose_name_plural = _("app credentials")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_key})"


class AppUserQuerySet(models.QuerySet):
    def proven(self) -> AppUserQuerySet:
        """Links the person proved (``verified_at``) and that are active: the only ones an app may act on."""
        return self.filter(status=AppUser.Status.ACTIVE, verified_at__isnull=False)


class AppUser(models.Model):
    """A user as an application knows them (``external_user_id`` is the app's own id for them).

    A link is a *claim* until the person proves, through this application, that they hold the identity (a one-time
    code sent to their phone and entered in the app: ``verified_at``). A claim grants the app nothing: no account,
    money, record or session of the person (see ``billing.tenancy``).
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        SUSPENDED = "suspended", _("suspended")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey(Application, on_delete=models.CASCADE, db_column="app_id", related_name="app_users",
                            verbose_name=_("application"))
    user = models.ForeignKey(User, on_delete=models.PROTECT, db_column="user_id", related_name="app_links",
                             verbose_name=_("user"))
    external_user_id = models.CharField(_("external user id"), max_length=255)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    verified_at = models.DateTimeField(_("proven at"), null=True, blank=True, editable=False,
                                       help_text=_("When the person proved, through this application, that they hold "
                                                   "the identity. Empty: a claim that grants nothing."))

    history = HistoricalRecords(get_user=history_user)
    objects = AppUserQuerySet.as_manager()

    class Meta:
        db_table = "app_users"
        verbose_name = _("app user")
        verbose_name_plural = _("app users")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["app", "external_user_id"], name="uniq_app_user_external_id"),
            models.UniqueConstraint(fields=["app", "user"], name="uniq_app_user_user"),
        ]
        indexes = [models.Index(fields=["user"], name="idx_app_users_user")]

    def __str__(self) -> str:
        return f"{self.external_user_id} @ {self.app_id}"

    @property
    def verified(self) -> bool:
        """Whether the person proved themselves through this app (the link may since have been suspended)."""
        return self.verified_at is not None

    @property
    def is_proven(self) -> bool:
        return self.verified_at is not None and self.status == self.Status.ACTIVE


class AppSession(models.Model):
    """A session an application opened for one of its users; ``ip_address`` is the end user's address."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        EXPIRED = "expired", _("expired")
        REVOKED = "revoked", _("revoked")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey(Application, on_delete=models.CASCADE, db_column="app_id", related_name="sessions",
                            verbose_name=_("application"))
    app_user = models.ForeignKey(AppUser, on_delete=models.CASCADE, db_column="app_user_id", related_name="sessions",
                                 verbose_name=_("app user"))
    user = models.ForeignKey(User, on_delete=models.CASCADE, db_column="user_id", related_name="app_sessions",
                             verbose_name=_("user"))
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("expires at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_reason = models.CharField(_("revoked because"), max_length=64, blank=True, default="")

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        db_table = "app_sessions"
        verbose_name = _("app session")
        verbose_name_plural = _("app sessions")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "status"], name="idx_app_sessions_user_status")]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"

    def effective_status(self, now: datetime | None = None) -> str:
        if self.status == self.Status.ACTIVE and self.expires_at <= (now or timezone.now()):
            return self.Status.EXPIRED
        return self.status
