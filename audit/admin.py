"""Console: a read-only browser of the audit log and a page that verifies the chain.

Nobody adds, changes or deletes audit events here, superusers included: the table is append-only, and the console
must not even offer the buttons.
"""
from __future__ import annotations

import json
import uuid
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from audit import events as event_types
from audit import selectors
from audit.models import AuditEvent
from audit.services import chain_verify_recorded
from core.admin import ReadOnlyAdmin


def _uuid_or_error(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise IncorrectLookupParameters(f"{value!r} is not a UUID") from None


class EventTypeFilter(admin.SimpleListFilter):
    title = _("type")
    parameter_name = "type"

    def lookups(self, request, model_admin):
        return [(t.name, t.name) for t in event_types.all_types()]

    def queryset(self, request, queryset):
        return queryset.filter(type=self.value()) if self.value() else queryset


class _UUIDFilter(admin.SimpleListFilter):
    """Filter by one id, set by following a link in the list (or the search box); shown while active."""

    field = ""

    def lookups(self, request, model_admin):
        value = self.value()
        return [(value, value)] if value else []

    def has_output(self) -> bool:
        return bool(self.value())

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        return queryset.filter(**{self.field: _uuid_or_error(self.value())})


class ActorFilter(_UUIDFilter):
    title = _("actor")
    parameter_name = "actor"
    field = "actor_id"


class TargetFilter(_UUIDFilter):
    title = _("target")
    parameter_name = "target"
    field = "target_id"


class AppFilter(_UUIDFilter):
    title = _("application")
    parameter_name = "app"
    field = "app_id"


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only for everyone (the shared read-only base)."""

    list_display = ("sequence", "created_at", "type", "action", "actor", "target", "application", "short_hash")
    list_display_links = ("sequence",)
    list_filter = (EventTypeFilter, "actor_type", "target_type", ActorFilter, TargetFilter, AppFilter,
                   ("created_at", admin.DateFieldListFilter))
    date_hierarchy = "created_at"
    search_fields = ("type", "action", "target_type")
    search_help_text = _("An id (event, actor, target, application or policy), or part of a type, action or "
                         "target type.")
    ordering = ("-sequence",)
    list_per_page = 50
    show_full_result_count = False  # COUNT(*) over the whole log on every page view is not worth it
    actions = None
    fieldsets = (
        (_("Event"), {"fields": ("sequence", "type", "action", "created_at", "id")}),
        (_("Who"), {"fields": ("actor_type", "actor_id", "app_id", "ip", "user_agent")}),
        (_("What"), {"fields": ("target_type", "target_id", "policy_id", "reason")}),
        (_("Change"), {"fields": ("before_and_after", "metadata_pretty")}),
        (_("Chain"), {"fields": ("previous_hash", "hash", "neighbours")}),
    )

    def get_readonly_fields(self, request, obj=None):
        return [f for fs in self.fieldsets for f in fs[1]["fields"]]

    def get_search_results(self, request, queryset: QuerySet, search_term: str):
        term = search_term.strip()
        try:
            value = uuid.UUID(term)
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        by_id = (Q(id=value) | Q(actor_id=value) | Q(target_id=value) | Q(app_id=value) | Q(policy_id=value))
        return queryset.filter(by_id), False

    def _filter_link(self, parameter: str, value: Any, text: str):
        if value is None:
            return "—"
        url = reverse("admin:audit_auditevent_changelist") + "?" + urlencode({parameter: str(value)})
        return format_html('<a href="{}" title="{}">{}</a>', url, str(value), text)

    @admin.display(description=_("actor"))
    def actor(self, obj: AuditEvent):
        if obj.actor_id is None:
            return obj.get_actor_type_display()
        return self._filter_link("actor", obj.actor_id, f"{obj.get_actor_type_display()} {str(obj.actor_id)[:8]}")

    @admin.display(description=_("target"))
    def target(self, obj: AuditEvent):
        if obj.target_id is None:
            return obj.target_type or "—"
        return self._filter_link("target", obj.target_id, f"{obj.target_type} {str(obj.target_id)[:8]}")

    @admin.display(description=_("application"))
    def application(self, obj: AuditEvent):
        return self._filter_link("app", obj.app_id, str(obj.app_id)[:8] if obj.app_id else "")

    @admin.display(description=_("hash"))
    def short_hash(self, obj: AuditEvent) -> str:
        return obj.hash[:12]

    @admin.display(description=_("before / after"))
    def before_and_after(self, obj: AuditEvent):
        """Side by side: one row per top-level key, changed keys marked; whole values when they are not objects."""
        before, after = obj.before, obj.after
        cell = '<td style="vertical-align:top"><pre style="margin:0;white-space:pre-wrap">{}</pre></td>'
        if isinstance(before, dict | None) and isinstance(after, dict | None) and (before or after):
            before, after = before or {}, after or {}
            missing = object()
            rows = []
            for key in sorted(set(before) | set(after)):
                old, new = before.get(key, missing), after.get(key, missing)
                changed = old != new
                rows.append((
                    "background:#fff3cd" if changed else "",
                    key,
                    "" if old is missing else _pretty(old),
                    "" if new is missing else _pretty(new),
                    _("changed") if changed else "",
                ))
            body = format_html_join(
                "", '<tr style="{}"><th style="vertical-align:top">{}</th>' + cell + cell + "<td>{}</td></tr>", rows)
        else:
            body = format_html("<tr><th>{}</th>" + cell + cell + "<td></td></tr>", _("value"),
                               "" if before is None else _pretty(before), "" if after is None else _pretty(after))
        return format_html(
            '<table class="audit-before-after" style="width:100%"><thead><tr><th>{}</th><th style="width:40%">{}'
            '</th><th style="width:40%">{}</th><th></th></tr></thead><tbody>{}</tbody></table>',
            _("field"), _("before"), _("after"), body)

    @admin.display(description=_("metadata"))
    def metadata_pretty(self, obj: AuditEvent):
        return format_html('<pre style="margin:0;white-space:pre-wrap">{}</pre>', _pretty(obj.metadata))

    @admin.display(description=_("in the chain"))
    def neighbours(self, obj: AuditEvent):
        links = []
        for sequence, label in ((obj.sequence - 1, _("previous")), (obj.sequence + 1, _("next"))):
            pk = AuditEvent.objects.filter(sequence=sequence).values_list("pk", flat=True).first()
            if pk is not None:
                url = reverse("admin:audit_auditevent_change", args=[pk])
                links.append((url, f"{label} #{sequence}"))
        return format_html_join(" · ", '<a href="{}">{}</a>', links) or "—"

    # The verification page.
    def get_urls(self):
        return [path("verify/", self.admin_site.admin_view(self.verify_view), name="audit_auditevent_verify"),
                *super().get_urls()]

    def verify_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        directory = settings.AUDIT_CHECKPOINT_DIR
        use_checkpoints = directory.is_dir() and any(directory.glob("checkpoint-*.json"))
        result = None
        broken_url = None
        if request.method == "POST":
            result = chain_verify_recorded(checkpoints_dir=directory if use_checkpoints else None)
            if result.problem is not None:
                pk = (AuditEvent.objects.filter(sequence=result.problem.sequence)
                      .values_list("pk", flat=True).first())
                if pk is not None:
                    broken_url = reverse("admin:audit_auditevent_change", args=[pk])
        head = selectors.chain_head()
        backlog, oldest = selectors.staged_backlog()
        recent = (AuditEvent.objects.filter(type=event_types.AUDIT_VERIFIED).order_by("-sequence")
                  .only("id", "sequence", "created_at", "actor_type", "actor_id", "after")[:5])
        context = {
            **self.admin_site.each_context(request),
            "title": _("Verify the audit chain"),
            "opts": self.model._meta,
            "result": result,
            "broken_url": broken_url,
            "head": head,
            "backlog": backlog,
            "oldest_staged": oldest,
            "checkpoint_dir": str(directory) if use_checkpoints else "",
            "recent": recent,
        }
        return TemplateResponse(request, "admin/audit/auditevent/verify.html", context)
