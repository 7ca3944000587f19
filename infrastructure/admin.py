"""Console: the jobs queue and its dead letters, secrets (metadata only), kill switches and staff locks.

Every action calls a service. Actions that change something a person must think about (cancel, activate or
deactivate a kill switch, rotate or revoke a secret) go through a confirmation page that asks for a reason where
the service needs one.
"""
from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from simple_history.admin import SimpleHistoryAdmin

from core.admin import ReadOnlyAdmin, ReasonForm, confirm_action
from core.errors import Forbidden, ServiceError
from infrastructure.models import DeadLetterJob, IntegrityReport, Job, KillSwitch, Secret, StaffLock
from infrastructure.selectors import job_status_counts, staff_locks_on
from infrastructure.services.jobs import dead_letter_requeue, job_cancel, job_requeue, job_retry_now
from infrastructure.services.killswitches import killswitch_activate, killswitch_deactivate
from infrastructure.services.secrets import secret_put, secret_revoke, secret_rotate
from infrastructure.services.staff_locks import staff_lock_lift_by_id

# --- shared plumbing --------------------------------------------------------------------------------------------


class ReadOnlyAdminMixin:
    """Rows change only through actions (services): the change page shows them, nothing is editable."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields] + list(getattr(self, "extra_readonly", ()))

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        raise PermissionDenied

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "show_save": False, "show_save_and_continue": False,
                         "show_save_and_add_another": False, "show_delete": False}
        return super().changeform_view(request, object_id, form_url, extra_context)


def _pretty_json(value: Any) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, default=str))


# --- jobs -------------------------------------------------------------------------------------------------------


class CancelForm(ReasonForm):
    pass


@admin.register(Job)
class JobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("type", "status", "priority", "attempts_display", "next_run_at", "locked_by", "created_at",
                    "finished_at")
    list_filter = ("status", "type", "priority", ("cancelled_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("=id", "type", "last_error", "locked_by")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    actions = ("retry_now", "cancel", "requeue")
    list_per_page = 50
    extra_readonly = ("payload_pretty",)
    fieldsets = (
        (None, {"fields": ("id", "type", "status", "priority", "payload_pretty")}),
        (_("Attempts"), {"fields": ("attempts", "max_attempts", "next_run_at", "last_error")}),
        (_("Lease"), {"fields": ("locked_by", "lease_expires_at")}),
        (_("Dates"), {"fields": ("created_at", "updated_at", "finished_at", "cancelled_at")}),
    )
    change_list_template = "admin/infrastructure/job/change_list.html"

    @admin.display(description=_("attempts"))
    def attempts_display(self, obj: Job) -> str:
        return f"{obj.attempts}/{obj.max_attempts}"

    @admin.display(description=_("payload"))
    def payload_pretty(self, obj: Job) -> str:
        return _pretty_json(obj.payload)

    def changelist_view(self, request, extra_context=None):
        counts = job_status_counts()
        extra_context = {**(extra_context or {}), "status_counts": [
            (value, label, counts.get(value, 0)) for value, label in Job.Status.choices]}
        return super().changelist_view(request, extra_context)

    @admin.action(description=_("Retry now (pending jobs)"), permissions=["change"])
    def retry_now(self, request, queryset):
        done, refused = 0, []
        for job in queryset:
            try:
                job_retry_now(job, actor=request.user)
                done += 1
            except ServiceError as exc:
                refused.append(f"{job}: {exc.message}")
        if done:
            self.message_user(request, ngettext("%(n)d job is due now.", "%(n)d jobs are due now.", done)
                              % {"n": done}, messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.WARNING)

    @admin.action(description=_("Cancel (pending jobs)…"), permissions=["change"])
    def cancel(self, request, queryset):
        return confirm_action(
            self, request, queryset.filter(status=Job.Status.PENDING), title=_("Cancel jobs"),
            message=_("These pending jobs will never run. Jobs that are not pending are left as they are."),
            submit_label=_("Cancel these jobs"), form_class=CancelForm, danger=True,
            apply=lambda job, data: job_cancel(job, reason=data["reason"], actor=request.user))

    @admin.action(description=_("Requeue (dead-lettered jobs)"), permissions=["change"])
    def requeue(self, request, queryset):
        done, refused = 0, []
        for job in queryset:
            try:
                job_requeue(job, actor=request.user)
                done += 1
            except ServiceError as exc:
                refused.append(f"{job}: {exc.message}")
        if done:
            self.message_user(request, ngettext("%(n)d job requeued.", "%(n)d jobs requeued.", done) % {"n": done},
                              messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.WARNING)


@admin.register(DeadLetterJob)
class DeadLetterJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("type", "original_job", "attempts", "failed_at", "error_excerpt", "requeued_job", "requeued_at")
    list_filter = ("type", ("requeued_at", admin.EmptyFieldListFilter), "failed_at")
    search_fields = ("=id", "=original_job__id", "type", "last_error")
    date_hierarchy = "failed_at"
    actions = ("requeue",)
    extra_readonly = ("payload_pretty",)
    fields = ("id", "original_job", "type", "payload_pretty", "attempts", "last_error", "failed_at", "requeued_job",
              "requeued_at")

    @admin.display(description=_("last error"))
    def error_excerpt(self, obj: DeadLetterJob) -> str:
        lines = (obj.last_error or "").strip().splitlines()
        return lines[-1][:120] if lines else ""

    @admin.display(description=_("payload"))
    def payload_pretty(self, obj: DeadLetterJob) -> str:
        return _pretty_json(obj.payload)

    @admin.action(description=_("Requeue as a new job"), permissions=["change"])
    def requeue(self, request, queryset):
        done, refused = 0, []
        for dead in queryset:
            try:
                dead_letter_requeue(dead, actor=request.user)
                done += 1
            except ServiceError as exc:
                refused.append(f"{dead}: {exc.message}")
        if done:
            self.message_user(request, ngettext("%(n)d job requeued.", "%(n)d jobs requeued.", done) % {"n": done},
                              messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.WARNING)


# --- secrets ----------------------------------------------------------------------------------------------------


class SecretAddForm(forms.ModelForm):
    """Adds the first version (or a new one) of a secret. The value is write-only: never rendered back."""

    value = forms.CharField(label=_("Value"), strip=False, widget=forms.PasswordInput(render_value=False),
                            help_text=_("Stored encrypted (AES-256-GCM). It is never shown again."))

    class Meta:
        model = Secret
        fields = ("name", "app_id", "type", "environment", "expires_at")


class RotateForm(forms.Form):
    value = forms.CharField(label=_("New value"), required=False, strip=False,
                            widget=forms.PasswordInput(render_value=False),
                            help_text=_("Leave empty to generate a random 256-bit value (for signing and encryption "
                                        "keys). It is never shown."))


@admin.register(Secret)
class SecretAdmin(admin.ModelAdmin):
    list_display = ("name", "app_id", "environment", "type", "version", "status", "key_id", "expires_at",
                    "created_at")
    list_filter = ("status", "environment", "type")
    search_fields = ("name", "=app_id")
    ordering = ("name", "environment", "-version")
    actions = ("rotate", "revoke")
    readonly_fields = ("id", "name", "app_id", "type", "environment", "version", "status", "expires_at",
                       "created_at", "key_id")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = SecretAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "app_id", "type", "environment", "expires_at", "value")
        return self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead: the versions are the record

    def save_model(self, request, obj, form, change):
        if change:
            raise PermissionDenied
        data = form.cleaned_data
        created = secret_put(data["name"], data["value"], app_id=data.get("app_id"), type=data["type"],
                             environment=data["environment"], expires_at=data.get("expires_at"))
        obj.pk, obj.version, obj.status = created.pk, created.version, created.status
        obj.encrypted_value = created.encrypted_value
        obj._state.adding = False

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if object_id is not None:
            extra_context = {**(extra_context or {}), "show_save": False, "show_save_and_continue": False,
                             "show_save_and_add_another": False, "show_delete": False}
        return super().changeform_view(request, object_id, form_url, extra_context)

    @admin.action(description=_("Rotate (new version)…"), permissions=["change"])
    def rotate(self, request, queryset):
        chosen = list(queryset.filter(status=Secret.Status.ACTIVE))
        if request.POST.get("confirm") == "yes" and request.POST.get("value") and len(chosen) > 1:
            self.message_user(request, _("Choose one secret to set a value, or leave the value empty to generate "
                                         "one for each."), messages.ERROR)
            return None
        return confirm_action(
            self, request, queryset.filter(status=Secret.Status.ACTIVE),
            title=_("Rotate secrets"),
            message=_("Each active secret below gets a new version; the current one becomes rotated. "
                      "Users of the secret read the new value from now on."),
            submit_label=_("Rotate"), form_class=RotateForm,
            apply=lambda secret, data: secret_rotate(secret, value=data.get("value") or None))

    @admin.action(description=_("Revoke…"), permissions=["change"])
    def revoke(self, request, queryset):
        return confirm_action(
            self, request, queryset.exclude(status=Secret.Status.REVOKED),
            title=_("Revoke secret versions"),
            message=_("Revoked versions can no longer be read. Revoking the active version leaves the secret "
                      "without a value until a new one is put."),
            submit_label=_("Revoke"), form_class=ReasonForm, danger=True,
            apply=lambda secret, data: secret_revoke(secret.name, app_id=secret.app_id,
                                                     environment=secret.environment, version=secret.version,
                                                     reason=data["reason"]))


# --- kill switches ----------------------------------------------------------------------------------------------


class ActivateForm(ReasonForm):
    expires_at = forms.DateTimeField(label=_("Expires at"), required=False,
                                     help_text=_("Optional, UTC, e.g. 2030-01-31 18:00. The switch stops "
                                                 "applying by itself at that time."))


@admin.register(KillSwitch)
class KillSwitchAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    list_display = ("scope", "in_force", "active", "reason", "activated_by", "activated_at", "expires_at",
                    "updated_at")
    list_filter = ("active",)
    ordering = ("scope",)
    actions = ("activate", "deactivate")
    history_list_display = ("active", "reason", "expires_at")

    @admin.display(boolean=True, description=_("in force"))
    def in_force(self, obj: KillSwitch) -> bool:
        return obj.is_in_force()

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        # Reverting from history would bypass the services (no reason, no audit event): history is read-only.
        if request.method == "POST":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

    def revert_disabled(self, request, obj=None) -> bool:
        return True

    @admin.action(description=_("Activate (halt)…"), permissions=["change"])
    def activate(self, request, queryset):
        return confirm_action(
            self, request, queryset, title=_("Activate kill switches"),
            message=_("Everything in these scopes stops at once (the 'all' scope stops every scope), in every "
                      "process within a second, until the switch is deactivated or expires."),
            submit_label=_("Yes, halt"), form_class=ActivateForm, danger=True,
            apply=lambda switch, data: killswitch_activate(switch.scope, reason=data["reason"], actor=request.user,
                                                           expires_at=data.get("expires_at")))

    @admin.action(description=_("Deactivate (resume)…"), permissions=["change"])
    def deactivate(self, request, queryset):
        return confirm_action(
            self, request, queryset, title=_("Deactivate kill switches"),
            message=_("These scopes resume at once."),
            submit_label=_("Yes, resume"), form_class=ReasonForm,
            apply=lambda switch, data: killswitch_deactivate(switch.scope, reason=data["reason"],
                                                             actor=request.user))


@admin.register(IntegrityReport)
class IntegrityReportAdmin(ReadOnlyAdmin):
    """Every ``verify_all`` run, read-only (append-only in the database)."""

    list_display = ("started_at", "ok", "trigger", "summary")
    list_filter = ("ok", "trigger")
    date_hierarchy = "started_at"


# --- staff locks ------------------------------------------------------------------------------------------------


def _people(ids) -> dict[Any, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return {u.pk: str(u) for u in get_user_model().objects.filter(pk__in=ids)}


def _target_url(lock: StaffLock) -> str | None:
    app_label, _dot, model_name = lock.target_type.partition(".")
    try:
        return reverse(f"admin:{app_label}_{model_name}_change", args=[lock.target_id])
    except NoReverseMatch:
        return None


def staff_locks_html(obj: models.Model | None) -> str:
    """For the change page of a lockable object: the staff locks in force on it, each with who set it, when, why,
    and a link to lift it (docs/domains/staff-locks.md)."""
    if obj is None or obj.pk is None:
        return "-"
    locks = list(staff_locks_on(obj))
    if not locks:
        return _("None: the tenant's API may change it.")
    people = _people(lock.locked_by for lock in locks)
    rows = []
    for lock in locks:
        who = people.get(lock.locked_by) or _("staff")
        url = reverse("admin:infrastructure_stafflock_change", args=[lock.pk])
        rows.append((lock.field, lock.get_cause_display(), who,
                     timezone.localtime(lock.locked_at).strftime("%Y-%m-%d %H:%M"), lock.reason, url))
    items = format_html_join("", '<li><strong>{}</strong> locked ({}) by {} on {}: {} <a href="{}">{}</a></li>',
                             ((f, c, w, t, r, u, _("details")) for f, c, w, t, r, u in rows))
    return format_html('<p>{}</p><ul class="staff-locks">{}</ul>',
                       _("Locked by staff: the tenant's API cannot undo this."), items)


class StaffLockStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("in_force", _("in force")), ("lifted", _("lifted"))]

    def queryset(self, request, queryset):
        if self.value() == "in_force":
            return queryset.filter(released_at__isnull=True)
        if self.value() == "lifted":
            return queryset.filter(released_at__isnull=False)
        return queryset


def _lift_permission(request: HttpRequest, lock: StaffLock) -> str:
    app_label, _dot, model_name = lock.target_type.partition(".")
    return f"{app_label}.change_{model_name}"


@admin.register(StaffLock)
class StaffLockAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every lock staff set (and every one a cascade set), in force or lifted. Locks are set by the staff actions
    themselves (suspend, pause, set a total, edit a policy); "lift" hands the control back to the tenant without
    changing the object, for whoever may change that object in the console."""

    list_display = ("target", "field", "cause", "in_force", "reason", "locked_by_name", "locked_at", "released_at")
    list_filter = (StaffLockStateFilter, "cause", "target_type", "field")
    search_fields = ("=target_id", "=tenant_id", "reason")
    date_hierarchy = "locked_at"
    actions = ("lift",)
    extra_readonly = ("target", "locked_by_name", "released_by_name")

    def get_fields(self, request, obj=None):
        return ("target", "target_type", "target_id", "field", "tenant_id", "cause", "value", "reason",
                "locked_by_name", "locked_at", "released_at", "released_by_name", "release_reason")

    @admin.display(description=_("locked object"))
    def target(self, obj: StaffLock) -> str:
        url = _target_url(obj)
        label = f"{obj.target_type} {obj.target_id}"
        return format_html('<a href="{}">{}</a>', url, label) if url else label

    @admin.display(boolean=True, description=_("in force"))
    def in_force(self, obj: StaffLock) -> bool:
        return obj.in_force

    @admin.display(description=_("locked by"))
    def locked_by_name(self, obj: StaffLock) -> str:
        return _people([obj.locked_by]).get(obj.locked_by) or "-"

    @admin.display(description=_("lifted by"))
    def released_by_name(self, obj: StaffLock) -> str:
        return _people([obj.released_by]).get(obj.released_by) or "-"

    def has_lift_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("infrastructure.change_stafflock")

    @admin.action(description=_("Lift (the tenant may then undo what the lock held)…"), permissions=["lift"])
    def lift(self, request, queryset):
        def apply(lock: StaffLock, data: dict[str, Any]) -> None:
            # Lifting a lock is changing what it protects: only for whoever may change that object here.
            if not request.user.has_perm(_lift_permission(request, lock)):
                raise Forbidden(_("You may not change this object, so you may not lift its lock."))
            staff_lock_lift_by_id(lock_id=lock.pk, reason=data["reason"], actor=request.user)

        return confirm_action(
            self, request, queryset, title=_("Lift staff locks"),
            message=_("The objects keep their status or limit, but their tenant's API may change it again. To "
                      "reactivate an object, use its own Reactivate or Resume action instead (that lifts the lock "
                      "too). Locks set because an owner was suspended or banned are lifted by reactivating the "
                      "owner."),
            submit_label=_("Yes, lift"), form_class=ReasonForm, apply=apply)
