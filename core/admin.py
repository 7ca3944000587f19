"""Shared console (admin) bases: read-only pages and history that is read, never reverted.

Append-only tables (``audit.immutable.AppendOnlyModel``: ledger entries, audit events, approval decisions, spend
events, execution logs, suggestions, human decisions, risk history) are shown through ``ReadOnlyAdmin`` and
``ReadOnlyInline``; the console site refuses to register them any other way (``ConsoleAdminSite.register``), so
no role, the super admin included, gets an add, change or delete page for them.
"""
from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from simple_history.admin import SimpleHistoryAdmin


class ReadOnlyPermissions:
    """Nobody adds, changes or deletes these rows in the console, whatever their permissions."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnlyPermissions, admin.ModelAdmin):
    """Rows the console shows but never edits directly (changes, if any, are actions calling services)."""


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
    pass
