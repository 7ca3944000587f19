"""Shared console (admin) bases: read-only pages, history that is read, never reverted, and the confirmation
page an admin action shows before it changes anything (``confirm_action`` with a ``ReasonForm``).

Append-only tables (``audit.immutable.AppendOnlyModel``: ledger entries, audit events, approval decisions, spend
events, execution logs, suggestions, human decisions, risk history) are shown through ``ReadOnlyAdmin`` and
``ReadOnlyInline``; the console site refuses to register them any other way (``ConsoleAdminSite.register``), so
no role, the super admin included, gets an add, change or delete page for them.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from simple_history.admin import SimpleHistoryAdmin

from core.errors import ServiceError
from core.validation import MIN_REASON


class ReadOnlyPermissions:
    """Nobody adds, changes or deletes these rows in the console, whatever their permissions."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_manage_permission(self, request) -> bool:
        """Who may run the actions that change these rows through their services (``permissions=["manage"]``):
        holders of the model's change permission, which no change page honours."""
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


class ReadOnlyAdmin(ReadOnlyPermissions, admin.ModelAdmin):
    """Rows the console shows but never edits directly (changes, if any, are actions calling services)."""

    # Addresses are taken as https when typed without a scheme (Django 6's default).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


class ReadOnlyInline(ReadOnlyPermissions, admin.TabularInline):
    extra = 0
    can_delete = False


class NoRevertHistoryAdmin(SimpleHistoryAdmin):
    """History to read, never to revert: a revert would save an old row past the services and their audit.

    ``SIMPLE_HISTORY_REVERT_DISABLED`` hides the revert button everywhere and the console site refuses every POST
    to a history page; this class says it once more for its pages."""

    def revert_disabled(self, request, obj=None) -> bool:
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method != "GET":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)


class ReadOnlyHistoryAdmin(NoRevertHistoryAdmin, ReadOnlyAdmin):
    """Rows shown with their history. The change page never saves (a save would write back a stale copy over
    concurrent changes); changes are admin actions, which call the services."""


def money(cents: int | None, currency: str = "") -> str:
    """Integer cents as the console shows them: ``-1,234.05 EUR``; ``-`` when there is no amount."""
    if cents is None:
        return "-"
    units, rest = divmod(abs(cents), 100)
    return f"{'-' if cents < 0 else ''}{units:,}.{rest:02d} {currency}".strip()


# --- confirmation pages -------------------------------------------------------------------------------------------


def reason_field(*, min_length: int = MIN_REASON, max_length: int | None = None,
                 help_text: str = _("Required. Kept in the audit log.")) -> forms.CharField:
    """The reason a console user gives for a change: the services keep it in the audit log."""
    return forms.CharField(label=_("Reason"), min_length=min_length, max_length=max_length, help_text=help_text,
                           widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


class ReasonForm(forms.Form):
    """A confirmation page's usual question: why."""

    reason = reason_field()


def confirm_action(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    title: str,
    apply: Callable[[Any, dict[str, Any]], Any],
    form_class: type[forms.Form] | None = ReasonForm,
    message: str = "",
    submit_label: str = "",
    done: str = "",
    danger: bool = False,
) -> HttpResponse | None:
    """An admin action's intermediate page (``admin/confirm_action.html``): show the rows it changes and ask
    ``form_class`` (a reason unless told otherwise; ``None``: nothing to ask). Once it is submitted and valid,
    ``apply(obj, cleaned_data)`` each row: a ``ServiceError`` is reported as that row's error (message and code)
    and the other rows are still applied, and ``done`` (``%(count)d`` rows) reports the successes. Returns
    ``None`` once applied (the admin goes back to the list) or the page."""
    # The page posts confirm=yes; "apply" is what the console's confirmation pages posted before they shared this
    # one, and is taken the same way.
    submitted = request.POST.get("confirm") == "yes" or "apply" in request.POST
    form = form_class(request.POST if submitted else None) if form_class else None
    if submitted and (form is None or form.is_valid()):
        data = form.cleaned_data if form is not None else {}
        count, failed = 0, []
        for obj in queryset:
            try:
                apply(obj, data)
                count += 1
            except ServiceError as exc:
                failed.append(f"{obj}: {exc.message} ({exc.code})")
        if count:
            text = done or ngettext("%(count)d object updated.", "%(count)d objects updated.", count)
            modeladmin.message_user(request, text % {"count": count}, messages.SUCCESS)
        for line in failed:
            modeladmin.message_user(request, line, messages.ERROR)
        return None
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "message": message,
        "submit_label": submit_label or _("Confirm"),
        "objects": list(queryset),
        "form": form,
        "action": request.POST.get("action", ""),
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
        "opts": opts,
        "app_label": opts.app_label,
        "danger": danger,
    }
    return TemplateResponse(request, "admin/confirm_action.html", context)
