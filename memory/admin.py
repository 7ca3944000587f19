"""The console's institutional memory: decision lifecycles (with their transitions and memory timeline, a form to
open a review and one to record a precedent), the review inbox with its decide form, the conflict list with
acknowledge / resolve / dissolve, precedents with their states, and the transition chain's verification.

Every action goes through the memory services, which check the person's authority; everything here is read-only
otherwise. An approval request's page in governance's console shows the request's precedents and conflicts through
the panel registered at the end of this module.
"""
from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdmin, ReadOnlyInline, confirm_action
from core.errors import ServiceError
from governance.admin import register_approval_panel
from memory.models import (
    DecisionConflict,
    DecisionLifecycle,
    DecisionPrecedent,
    DecisionReview,
    LifecycleTransition,
    PrecedentState,
    ReviewOutcome,
)
from memory.selectors import approval_memory, memory_timeline, review_decide_problem, reviews_due_for
from memory.services import (
    conflict_acknowledge,
    conflict_dissolve,
    conflict_resolve,
    precedent_record,
    precedent_set_state,
    review_decide,
    review_open,
    verify_lifecycle_chains,
)


def _pretty(value) -> str:
    return format_html('<pre class="governance-json">{}</pre>',
                       json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str))


def _error(admin_obj, request, exc: ServiceError) -> None:
    details = "; ".join(m for msgs in exc.fields.values() for m in msgs)
    admin_obj.message_user(request, f"{exc.message} {details}".strip(), messages.ERROR)


def _lifecycle_link(decision_id) -> str:
    if not decision_id:
        return "-"
    lifecycle = DecisionLifecycle.objects.filter(decision_id=decision_id).only("pk", "domain", "action").first()
    if lifecycle is None:
        return str(decision_id)
    return format_html('<a href="{}">{}.{} {}</a>',
                       reverse("admin:memory_decisionlifecycle_change", args=[lifecycle.pk]),
                       lifecycle.domain, lifecycle.action, str(decision_id)[:8])


class MemoryReadOnly(ReadOnlyAdmin):
    """Memory rows change only through their actions (services); the shared read-only base."""


# --- lifecycles and transitions -----------------------------------------------------------------------------------


class TransitionInline(ReadOnlyInline):
    model = LifecycleTransition
    fk_name = "decision"
    fields = ("sequence", "from_state", "to_state", "triggered_by_type", "triggered_by", "reason", "created_at",
              "hash")
    readonly_fields = fields
    ordering = ("sequence",)


class OpenReviewForm(forms.Form):
    reason = forms.CharField(label=_("Why review it (what changed)?"), min_length=3,
                             widget=forms.Textarea(attrs={"rows": 2, "cols": 80}))


class PrecedentForm(forms.Form):
    observed_result = forms.JSONField(label=_("Observed result (JSON object)"),
                                      widget=forms.Textarea(attrs={"rows": 3, "cols": 80}))
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 80}))


@admin.register(DecisionLifecycle)
class DecisionLifecycleAdmin(MemoryReadOnly):
    change_form_template = "admin/memory/decisionlifecycle/change_form.html"
    list_display = ("created_at", "decision_id", "decision_type", "domain", "action", "target", "state",
                    "expiration_type", "expires_at", "next_review_at")
    list_filter = ("state", "decision_type", "domain", "expiration_type")
    search_fields = ("=decision_id", "target_id", "action", "=subject_id")
    date_hierarchy = "created_at"
    inlines = (TransitionInline,)
    fields = ("id", "decision_id", "decision_type", "state", "expiration_type", "expires_at", "condition",
              "next_review_at", "domain", "action", "target_type", "target_id", "reference", "direction", "amount",
              "scopes", "subject_id", "tenant_id", "superseded_by", "policy_evaluation", "created_at", "updated_at",
              "memory", "context_json")
    readonly_fields = fields

    @admin.display(description=_("memory timeline"))
    def memory(self, obj) -> str:
        entries = memory_timeline(decision_id=obj.decision_id)
        return format_html('<ol class="memory-timeline">{}</ol>', format_html_join(
            "", "<li><time>{}</time> <strong>{}</strong>: {} — {}</li>",
            ((timezone.localtime(e.at).strftime("%Y-%m-%d %H:%M:%S"), e.kind, e.title, e.detail) for e in entries)))

    @admin.display(description=_("context"))
    def context_json(self, obj) -> str:
        return _pretty(obj.context)

    def get_urls(self):
        return [path("<path:object_id>/review/", self.admin_site.admin_view(self.review_view),
                     name="memory_decisionlifecycle_review"),
                path("<path:object_id>/precedent/", self.admin_site.admin_view(self.precedent_view),
                     name="memory_decisionlifecycle_precedent"),
                *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        extra = dict(extra_context or {})
        if obj is not None:
            extra.update(review_form=OpenReviewForm(), precedent_form=PrecedentForm(),
                         review_url=reverse("admin:memory_decisionlifecycle_review", args=[obj.pk]),
                         precedent_url=reverse("admin:memory_decisionlifecycle_precedent", args=[obj.pk]),
                         in_force=obj.is_in_force(),
                         has_precedent=DecisionPrecedent.objects.filter(original_decision_id=obj.decision_id).exists())
        return super().change_view(request, object_id, form_url, extra)

    def _post(self, request, object_id):
        obj = get_object_or_404(DecisionLifecycle, pk=unquote(object_id))
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        return obj, reverse("admin:memory_decisionlifecycle_change", args=[obj.pk])

    def review_view(self, request, object_id):
        obj, back = self._post(request, object_id)
        form = OpenReviewForm(request.POST or None)
        if request.method != "POST" or not form.is_valid():
            self.message_user(request, _("Say why the decision should be reviewed."), messages.ERROR)
            return HttpResponseRedirect(back)
        problem = review_decide_problem(user=request.user, lifecycle=obj)
        if problem:
            self.message_user(request, problem, messages.ERROR)
            return HttpResponseRedirect(back)
        try:
            review = review_open(decision_id=obj.decision_id, review_type="context_change",
                                 reason=form.cleaned_data["reason"], triggered_by=request.user.pk,
                                 triggered_by_type="human")
        except ServiceError as exc:
            _error(self, request, exc)
            return HttpResponseRedirect(back)
        self.message_user(request, _("Review opened."), messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:memory_decisionreview_change", args=[review.pk]))

    def precedent_view(self, request, object_id):
        obj, back = self._post(request, object_id)
        form = PrecedentForm(request.POST or None)
        if request.method != "POST" or not form.is_valid():
            self.message_user(request, _("Give the observed result as a JSON object."), messages.ERROR)
            return HttpResponseRedirect(back)
        try:
            precedent = precedent_record(decision_id=obj.decision_id, created_by=request.user,
                                         observed_result=form.cleaned_data["observed_result"],
                                         note=form.cleaned_data.get("note") or "")
        except ServiceError as exc:
            _error(self, request, exc)
            return HttpResponseRedirect(back)
        self.message_user(request, _("Recorded as a precedent."), messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:memory_decisionprecedent_change", args=[precedent.pk]))


@admin.register(LifecycleTransition)
class LifecycleTransitionAdmin(MemoryReadOnly):
    change_list_template = "admin/memory/lifecycletransition/change_list.html"
    list_display = ("created_at", "decision", "sequence", "from_state", "to_state", "triggered_by_type",
                    "triggered_by", "reason")
    list_filter = ("to_state", "triggered_by_type")
    search_fields = ("=decision__decision_id", "reason")
    date_hierarchy = "created_at"
    fields = ("id", "decision", "sequence", "from_state", "to_state", "triggered_by_type", "triggered_by", "reason",
              "created_at", "previous_hash", "hash")
    readonly_fields = fields

    def get_urls(self):
        return [path("verify/", self.admin_site.admin_view(self.verify_view),
                     name="memory_lifecycletransition_verify"), *super().get_urls()]

    def verify_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        report = verify_lifecycle_chains()
        self.message_user(request, report.summary(), messages.SUCCESS if report.ok else messages.ERROR)
        return HttpResponseRedirect(reverse("admin:memory_lifecycletransition_changelist"))


# --- reviews ------------------------------------------------------------------------------------------------------


class ReviewInboxFilter(admin.SimpleListFilter):
    title = _("inbox")
    parameter_name = "inbox"

    def lookups(self, request, model_admin):
        return [("mine", _("Mine to decide")), ("open", _("Open"))]

    def queryset(self, request, queryset):
        if self.value() == "mine":
            return queryset.filter(pk__in=reviews_due_for(user=request.user).values("pk"))
        if self.value() == "open":
            return queryset.filter(decided_at__isnull=True)
        return queryset


class ReviewDecideForm(forms.Form):
    outcome = forms.ChoiceField(choices=ReviewOutcome.choices)
    justification = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 80}))
    next_review_at = forms.DateTimeField(label=_("Next review at"), required=False,
                                         help_text=_("Required to keep it pending; optional when renewing."))
    superseded_by = forms.UUIDField(label=_("Superseded by (decision id)"), required=False)


@admin.register(DecisionReview)
class DecisionReviewAdmin(MemoryReadOnly):
    """The review inbox: "Mine to decide" lists the open reviews the signed-in person may decide."""

    change_form_template = "admin/memory/decisionreview/change_form.html"
    list_display = ("opened_at", "decision_link", "review_type", "outcome", "review_reason", "decided_by",
                    "decided_at")
    list_filter = (ReviewInboxFilter, "review_type", "outcome")
    search_fields = ("=decision__decision_id", "review_reason")
    date_hierarchy = "opened_at"
    list_select_related = ("decided_by",)
    fields = ("id", "decision_link", "review_type", "review_reason", "outcome", "justification", "decided_by",
              "decided_at", "next_review_at", "triggered_by_type", "triggered_by", "policy", "policy_version",
              "opened_at")
    readonly_fields = fields

    @admin.display(description=_("decision"))
    def decision_link(self, obj) -> str:
        return _lifecycle_link(obj.decision_id)

    def get_urls(self):
        return [path("<path:object_id>/decide/", self.admin_site.admin_view(self.decide_view),
                     name="memory_decisionreview_decide"), *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        extra = dict(extra_context or {})
        if obj is not None and obj.is_open:
            problem = review_decide_problem(user=request.user, lifecycle=obj.decision)
            extra.update(decide_problem=problem, decide_form=ReviewDecideForm(), outcomes=ReviewOutcome.choices,
                         decide_url=reverse("admin:memory_decisionreview_decide", args=[obj.pk]),
                         memory=memory_timeline(decision_id=obj.decision_id))
        return super().change_view(request, object_id, form_url, extra)

    def decide_view(self, request, object_id):
        review = get_object_or_404(DecisionReview, pk=unquote(object_id))
        if not self.has_view_permission(request, review):
            raise PermissionDenied
        back = reverse("admin:memory_decisionreview_change", args=[review.pk])
        form = ReviewDecideForm(request.POST or None)
        if request.method != "POST" or not form.is_valid():
            self.message_user(request, _("Choose an outcome and give a justification."), messages.ERROR)
            return HttpResponseRedirect(back)
        data = form.cleaned_data
        try:
            result = review_decide(review_id=review.pk, user=request.user, outcome=data["outcome"],
                                   justification=data["justification"], superseded_by=data.get("superseded_by"),
                                   next_review_at=data.get("next_review_at"))
        except ServiceError as exc:
            _error(self, request, exc)
            return HttpResponseRedirect(back)
        self.message_user(request, _("Review decided: %(o)s; the decision is %(s)s.")
                          % {"o": result.review.outcome, "s": result.lifecycle.state}, messages.SUCCESS)
        return HttpResponseRedirect(back)


# --- conflicts ----------------------------------------------------------------------------------------------------


class UnresolvedFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", _("Unresolved")), ("no", _("Closed"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.unresolved()
        if self.value() == "no":
            return queryset.exclude(pk__in=queryset.unresolved().values("pk"))
        return queryset


class NoteForm(forms.Form):
    note = forms.CharField(label=_("Note (at least 10 characters)"), min_length=10,
                           widget=forms.Textarea(attrs={"rows": 2, "cols": 80}))


class ResolveForm(forms.Form):
    prevailing = forms.UUIDField(label=_("Prevailing decision"))
    note = forms.CharField(label=_("Why it prevails (at least 10 characters)"), min_length=10,
                           widget=forms.Textarea(attrs={"rows": 2, "cols": 80}))
    supersede_other = forms.BooleanField(label=_("Mark the other decision superseded"), required=False)


@admin.register(DecisionConflict)
class DecisionConflictAdmin(MemoryReadOnly):
    """The conflict list: acknowledge or dissolve from the list, resolve on a conflict's page."""

    change_form_template = "admin/memory/decisionconflict/change_form.html"
    list_display = ("detected_at", "conflict_type", "state", "target", "decision_a_link", "decision_b_link",
                    "prevailing_id", "resolved_by")
    list_filter = (UnresolvedFilter, "state", "conflict_type")
    search_fields = ("target_id", "=decision_a__decision_id", "=decision_b__decision_id", "description")
    date_hierarchy = "detected_at"
    list_select_related = ("resolved_by",)
    actions = ("acknowledge", "dissolve")
    fields = ("id", "conflict_type", "state", "description", "target", "decision_a_link", "decision_b_link",
              "prevailing_id", "resolved_by", "resolution_note", "acknowledged_by", "acknowledged_at", "detected_at",
              "closed_at")
    readonly_fields = fields

    @admin.display(description=_("target"))
    def target(self, obj) -> str:
        return f"{obj.target_type}:{obj.target_id}"

    @admin.display(description=_("decision A"))
    def decision_a_link(self, obj) -> str:
        return _lifecycle_link(obj.decision_a_id)

    @admin.display(description=_("decision B"))
    def decision_b_link(self, obj) -> str:
        return _lifecycle_link(obj.decision_b_id)

    def get_actions(self, request):
        # Read-only for rows, but these actions call the services (which check the person's authority).
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description=_("Acknowledge selected conflicts"))
    def acknowledge(self, request, queryset):
        done = 0
        for conflict in queryset:
            try:
                conflict_acknowledge(conflict_id=conflict.pk, user=request.user)
                done += 1
            except ServiceError as exc:
                self.message_user(request, f"{conflict}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, _("%(n)d conflicts acknowledged.") % {"n": done}, messages.SUCCESS)

    @admin.action(description=_("Dissolve selected conflicts (they are none)…"))
    def dissolve(self, request, queryset):
        return confirm_action(
            self, request, queryset, title=_("Dissolve conflicts"), form_class=NoteForm, submit_label=_("Dissolve"),
            done=_("%(count)d conflicts dissolved."),
            apply=lambda conflict, data: conflict_dissolve(conflict_id=conflict.pk, user=request.user,
                                                           note=data["note"]))

    def get_urls(self):
        return [path("<path:object_id>/resolve/", self.admin_site.admin_view(self.resolve_view),
                     name="memory_decisionconflict_resolve"), *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        extra = dict(extra_context or {})
        if obj is not None and obj.is_open:
            extra.update(resolve_form=ResolveForm(), choices=[(obj.decision_a_id, obj.decision_a),
                                                              (obj.decision_b_id, obj.decision_b)],
                         resolve_url=reverse("admin:memory_decisionconflict_resolve", args=[obj.pk]))
        return super().change_view(request, object_id, form_url, extra)

    def resolve_view(self, request, object_id):
        conflict = get_object_or_404(DecisionConflict, pk=unquote(object_id))
        if not self.has_view_permission(request, conflict):
            raise PermissionDenied
        back = reverse("admin:memory_decisionconflict_change", args=[conflict.pk])
        form = ResolveForm(request.POST or None)
        if request.method != "POST" or not form.is_valid():
            self.message_user(request, _("Choose the prevailing decision and explain (at least 10 characters)."),
                              messages.ERROR)
            return HttpResponseRedirect(back)
        data = form.cleaned_data
        try:
            conflict_resolve(conflict_id=conflict.pk, user=request.user, prevailing_decision_id=data["prevailing"],
                             note=data["note"], supersede_other=data.get("supersede_other", False))
        except ServiceError as exc:
            _error(self, request, exc)
            return HttpResponseRedirect(back)
        self.message_user(request, _("Conflict resolved."), messages.SUCCESS)
        return HttpResponseRedirect(back)


# --- precedents ---------------------------------------------------------------------------------------------------


@admin.register(DecisionPrecedent)
class DecisionPrecedentAdmin(MemoryReadOnly):
    """Precedents are recorded from a reviewed decision's page; here they are read, and deprecated, contested,
    archived or reinstated with a reason. Memory, not authority."""

    list_display = ("created_at", "domain", "action", "amount", "state", "decision_link", "created_by")
    list_filter = ("state", "domain", "action")
    search_fields = ("=original_decision__decision_id", "observed_result")
    date_hierarchy = "created_at"
    list_select_related = ("created_by",)
    actions = ("deprecate", "contest", "archive", "reinstate")
    fields = ("id", "decision_link", "domain", "action", "amount", "state", "state_reason", "created_by",
              "created_at", "updated_at", "context_pretty", "result_pretty")
    readonly_fields = fields

    @admin.display(description=_("decision"))
    def decision_link(self, obj) -> str:
        return _lifecycle_link(obj.original_decision_id)

    @admin.display(description=_("original context"))
    def context_pretty(self, obj) -> str:
        return _pretty(json.loads(obj.original_context))

    @admin.display(description=_("observed result"))
    def result_pretty(self, obj) -> str:
        return _pretty(json.loads(obj.observed_result))

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def _set_state(self, request, queryset, state: str, title):
        return confirm_action(
            self, request, queryset, title=title, submit_label=title,
            done=_("%%(count)d precedents are now %(s)s.") % {"s": state},
            apply=lambda precedent, data: precedent_set_state(precedent_id=precedent.pk, state=state,
                                                              user=request.user, reason=data["reason"]))

    @admin.action(description=_("Deprecate selected precedents…"))
    def deprecate(self, request, queryset):
        return self._set_state(request, queryset, PrecedentState.DEPRECATED, _("Deprecate"))

    @admin.action(description=_("Contest selected precedents…"))
    def contest(self, request, queryset):
        return self._set_state(request, queryset, PrecedentState.CONTESTED, _("Contest"))

    @admin.action(description=_("Archive selected precedents…"))
    def archive(self, request, queryset):
        return self._set_state(request, queryset, PrecedentState.ARCHIVED, _("Archive"))

    @admin.action(description=_("Reinstate selected precedents…"))
    def reinstate(self, request, queryset):
        return self._set_state(request, queryset, PrecedentState.ACTIVE, _("Reinstate"))


# --- beside an approval request (governance's page) ---------------------------------------------------------------

register_approval_panel(template="admin/memory/approval_panel.html",
                        context=lambda request: {"memory": approval_memory(request=request)})
