"""Catalog domain Infrastructure: the jobs queue, dead letters, encrypted secrets and kill switches; and staff
locks, the per-object halts that staff set and tenants cannot lift."""
from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from audit.immutable import AppendOnlyModel


class Job(models.Model):
    """A unit of background work, written in the same transaction as the change that needs it."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        PROCESSING = "processing", _("processing")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(_("type"), max_length=64)
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    priority = models.IntegerField(_("priority"), default=0, help_text=_("Higher runs first."))
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    max_attempts = models.PositiveIntegerField(_("max attempts"), default=5)
    last_error = models.TextField(_("last error"), blank=True, default="")
    next_run_at = models.DateTimeField(_("next run at"), default=timezone.now)
    locked_by = models.CharField(_("locked by"), max_length=128, blank=True, default="")
    lease_expires_at = models.DateTimeField(_("lease expires at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)

    class Meta:
        db_table = "jobs"
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        ordering = ["-created_at"]
        indexes = [
            # The claim query: due pending jobs by priority.
            models.Index(fields=["status", "next_run_at", "priority"], name="idx_jobs_due"),
            models.Index(fields=["status", "lease_expires_at"], name="idx_jobs_lease"),
            # The claim's ORDER BY over pending rows only: done jobs pile up, the queue stays small.
            models.Index(models.F("priority").desc(), "next_run_at", name="idx_jobs_claim",
                         condition=models.Q(status="pending")),
            models.Index(fields=["type", "status"], name="idx_jobs_type_status"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id} ({self.status})"


class DeadLetterJob(models.Model):
    """A job that exhausted its attempts, kept with its evidence until an operator requeues it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    original_job = models.ForeignKey(Job, on_delete=models.PROTECT, related_name="dead_letters",
                                     db_column="original_job_id", verbose_name=_("original job"))
    type = models.CharField(_("type"), max_length=64)
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"))
    last_error = models.TextField(_("last error"), blank=True, default="")
    failed_at = models.DateTimeField(_("failed at"), default=timezone.now)
    requeued_job = models.ForeignKey(Job, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                     verbose_name=_("requeued as"))
    requeued_at = models.DateTimeField(_("requeued at"), null=True, blank=True)

    class Meta:
        db_table = "dead_letter_jobs"
        verbose_name = _("dead-letter job")
        verbose_name_plural = _("dead-letter jobs")
        ordering = ["-failed_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.original_job_id}"


class Secret(models.Model):
    """A secret value, AES-256-GCM encrypted under the master keyring; one row per version."""

    class Type(models.TextChoices):
        API_KEY = "api_key", _("API key")
        OAUTH_TOKEN = "oauth_token", _("OAuth token")
        ENCRYPTION_KEY = "encryption_key", _("encryption key")

    class Environment(models.TextChoices):
        PRODUCTION = "production", _("production")
        STAGING = "staging", _("staging")
        DEVELOPMENT = "development", _("development")

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        ROTATED = "rotated", _("rotated")
        REVOKED = "revoked", _("revoked")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The owning application's id (nil = global). Not a foreign key: infrastructure sits below identity.
    app_id = models.UUIDField(_("application"), null=True, blank=True)
    name = models.CharField(_("name"), max_length=128)
    type = models.CharField(_("type"), max_length=32, choices=Type.choices, default=Type.API_KEY)
    encrypted_value = models.TextField(_("encrypted value"), editable=False)
    environment = models.CharField(_("environment"), max_length=16, choices=Environment.choices,
                                   default=Environment.PRODUCTION)
    version = models.PositiveIntegerField(_("version"), default=1)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        db_table = "secrets"
        verbose_name = _("secret")
        verbose_name_plural = _("secrets")
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["app_id", "name", "environment", "version"],
                                    condition=models.Q(app_id__isnull=False), name="uniq_app_secret_version"),
            models.UniqueConstraint(fields=["name", "environment", "version"],
                                    condition=models.Q(app_id__isnull=True), name="uniq_global_secret_version"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.status})"

    def __repr__(self) -> str:
        return f"<Secret {self.name} v{self.version} {self.status}>"

    @property
    def key_id(self) -> str:
        """The master key this version is encrypted under (named in the stored value, never secret)."""
        parts = (self.encrypted_value or "").split(":", 2)
        return parts[1] if len(parts) == 3 else ""


class KillSwitch(models.Model):
    """An emergency stop for one scope; ``all`` covers every scope."""

    class Scope(models.TextChoices):
        ALL = "all", _("all")
        BILLING = "billing", _("billing")
        AGENTS = "agents", _("agents")
        ADS = "ads", _("ads")
        JOBS = "jobs", _("jobs")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    scope = models.CharField(_("scope"), max_length=16, choices=Scope.choices, unique=True)
    active = models.BooleanField(_("active"), default=False)
    reason = models.TextField(_("reason"), blank=True, default="")
    activated_by = models.UUIDField(_("activated by"), null=True, blank=True)
    activated_at = models.DateTimeField(_("activated at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords(table_name="kill_switches_history")

    class Meta:
        db_table = "kill_switches"
        verbose_name = _("kill switch")
        verbose_name_plural = _("kill switches")
        ordering = ["scope"]

    def __str__(self) -> str:
        return f"{self.scope}: {'active' if self.active else 'inactive'}"

    def is_in_force(self, now=None) -> bool:
        """Active and not expired: an expired switch stops applying without anyone touching it."""
        now = now or timezone.now()
        return self.active and (self.expires_at is None or self.expires_at > now)


class StaffLockQuerySet(models.QuerySet):
    def in_force(self) -> StaffLockQuerySet:
        return self.filter(released_at__isnull=True)

    def on(self, target: models.Model, field: str | None = None) -> StaffLockQuerySet:
        """The locks of one object (``target``), optionally on one of its fields."""
        found = self.filter(target_type=target._meta.label_lower, target_id=target.pk)
        return found if field is None else found.filter(field=field)


class StaffLock(models.Model):
    """A restriction staff set in the console on one object (a suspension, a pause, a limit) that the tenant's API
    cannot lift while the lock is in force: the object's status column says *what* holds, the lock says *who* set
    it and *why*, and so who may lift it (``infrastructure.services.staff_locks``; docs/domains/staff-locks.md).

    ``cause`` tells staff's own locks from those a cascade set: the apps and credentials suspended because their
    tenant's owner was suspended or banned come back when the owner does, those staff locked themselves do not.
    Rows are never deleted: a lifted lock keeps who lifted it, when and why. Not a catalog table.
    """

    class Cause(models.TextChoices):
        STAFF = "staff", _("set by staff")
        OWNER_INACTIVE = "owner_inactive", _("the tenant's owner is suspended or banned")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The locked object: its model's label ("agents.agent") and primary key. Not a foreign key: infrastructure sits
    # below every app whose objects staff lock.
    target_type = models.CharField(_("target type"), max_length=64)
    target_id = models.UUIDField(_("target id"))
    field = models.CharField(_("locked field"), max_length=64, default="status",
                             help_text=_('What is locked: "status", "amount_total", "policy:<domain>".'))
    tenant_id = models.UUIDField(_("tenant"), null=True, blank=True,
                                 help_text=_("The tenant whose API is refused (the owner of the locked object)."))
    cause = models.CharField(_("cause"), max_length=32, choices=Cause.choices, default=Cause.STAFF)
    value = models.JSONField(_("value set by staff"), default=dict, blank=True)
    reason = models.TextField(_("reason"))
    locked_by = models.UUIDField(_("locked by"), null=True, blank=True)
    locked_at = models.DateTimeField(_("locked at"), default=timezone.now)
    released_at = models.DateTimeField(_("lifted at"), null=True, blank=True)
    released_by = models.UUIDField(_("lifted by"), null=True, blank=True)
    release_reason = models.TextField(_("reason for lifting"), blank=True, default="")

    objects = StaffLockQuerySet.as_manager()

    class Meta:
        db_table = "staff_locks"
        verbose_name = _("staff lock")
        verbose_name_plural = _("staff locks")
        ordering = ["-locked_at"]
        indexes = [
            models.Index(fields=["target_type", "target_id"], condition=models.Q(released_at__isnull=True),
                         name="idx_staff_locks_in_force"),
            models.Index(fields=["tenant_id", "cause"], condition=models.Q(released_at__isnull=True),
                         name="idx_staff_locks_tenant"),
        ]
        constraints = [
            # One lock in force per object, field and cause: setting it again updates that lock.
            models.UniqueConstraint(fields=["target_type", "target_id", "field", "cause"],
                                    condition=models.Q(released_at__isnull=True), name="uniq_staff_lock_in_force"),
        ]

    def __str__(self) -> str:
        state = _("in force") if self.released_at is None else _("lifted")
        return f"{self.target_type} {self.target_id} {self.field} ({self.cause}, {state})"

    @property
    def in_force(self) -> bool:
        return self.released_at is None


class IntegrityReport(AppendOnlyModel):
    """One run of ``verify_all`` (every registered verifier): kept as evidence, never changed.

    Not a catalog table: the catalog has no place for the integrity checks' results.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    ok = models.BooleanField(_("ok"))
    trigger = models.CharField(_("trigger"), max_length=32, help_text=_("command, schedule, console or workload"))
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"))
    # [{"name", "ok", "checked", "problems": [...first 20...], "problem_count", "seconds", "notes"}]
    results = models.JSONField(_("results"), default=list)
    summary = models.TextField(_("summary"), blank=True, default="")

    class Meta:
        db_table = "integrity_reports"
        verbose_name = _("integrity report")
        verbose_name_plural = _("integrity reports")
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["-started_at"], name="idx_integrity_reports_started")]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M} {'ok' if self.ok else 'FAILED'}"
