"""The governance console: policies (versions, dry run), evaluations, autonomy, shadow executions, authorities,
approval requests with their decide form (beside the panels apps above add: institutional memory shows the
request's precedents and conflicts), and approval decisions. Institutional memory's own pages are ``memory.admin``.

Every change goes through the services: policies get a new version, grants are checked and audited, decisions are
hashed. Append-only and evidence rows are read-only here.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from audit.context import client_ip
from core.admin import ReadOnlyAdmin, ReadOnlyInline
from core.errors import ServiceError
from governance.models import (
    ApprovalDecision,
    ApprovalRequest,
    AutonomyProfile,
    DecisionAuthority,
    Policy,
    PolicyEvaluation,
    ShadowExecution,
)
from governance.selectors import approvals_decidable_by
from governance.services.approvals import approval_decide, approval_decide_choice, approval_decisions_verify
from governance.services.authorities import authority_grant, authority_grant_check, authority_revoke
from governance.services.autonomy import autonomy_profile_set
from governance.services.policies import (
    EDITABLE_FIELDS,
    policy_create,
    policy_dry_run,
    policy_set_active,
    policy_update,
)

DRY_RUN_DEFAULT = 200


@dataclass(frozen=True)
class ApprovalPanel:
    """A block an app above governance adds to every approval request's page, above the decide form: ``template``
    is included in the page, whose context gains what ``context(request)`` returns (the panel's own keys)."""

    template: str
    context: Callable[[ApprovalRequest], dict[str, Any]]


_APPROVAL_PANELS: list[ApprovalPanel] = []


def register_approval_panel(*, template: str, context: Callable[[ApprovalRequest], dict[str, Any]]) -> None:
    """Add a panel to the approval request's page (from the upper app's ``admin`` module, which Django's admin
    imports at start-up); registering the same template twice keeps one."""
    if not any(panel.template == template for panel in _APPROVAL_PANELS):
        _APPROVAL_PANELS.append(ApprovalPanel(template, context))


def pretty_json(value) -> str:
    return format_html('<pre class="governance-json">{}</pre>',
                       json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str))


def _copy_into(target, source) -> None:
    """Make the admin's unsaved form instance the row a service saved (the admin then links to it)."""
    for field in source._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    target._state.adding = False
    target._state.db = source._state.db


# --- policies -----------------------------------------------------------------------------------------------------


@admin.register(Policy)
class PolicyAdmin(SimpleHistoryAdmin):
    """Saving creates a new version through the services; "Dry run" shows what the form's policy would change
    on recent evaluations, without saving anything."""

    change_form_template = "admin/governance/policy/change_form.html"
    list_display = ("name", "resource", "action", "effect", "priority", "active", "version", "updated_at")
    list_filter = ("active", "effect", "resource", "action")
    search_fields = ("name", "reason", "resource", "action")
    readonly_fields = ("id", "version", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "resource", "action", "effect", "priority", "active")}),
        (_("Rule"), {"fields": ("conditions", "reason")}),
        (_("Version"), {"fields": ("id", "version", "created_at", "updated_at")}),
    )
    actions = ("activate", "deactivate")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # evaluations point at every version: deactivate instead

    def save_model(self, request, obj, form, change) -> None:
        values = {f: form.cleaned_data[f] for f in EDITABLE_FIELDS if f in form.cleaned_data}
        if change:
            saved = policy_update(policy_id=obj.pk, actor=request.user,
                                  change_reason=str(_("changed in the console")), **values)
        else:
            saved = policy_create(actor=request.user, **values)
        _copy_into(obj, saved)

    @admin.action(description=_("Activate selected policies (new version)"), permissions=["change"])
    def activate(self, request, queryset) -> None:
        for policy in queryset:
            policy_set_active(policy_id=policy.pk, active=True, actor=request.user)
        self.message_user(request, _("%(n)d policies active.") % {"n": queryset.count()})

    @admin.action(description=_("Deactivate selected policies (new version)"), permissions=["change"])
    def deactivate(self, request, queryset) -> None:
        for policy in queryset:
            policy_set_active(policy_id=policy.pk, active=False, actor=request.user)
        self.message_user(request, _("%(n)d policies inactive.") % {"n": queryset.count()})

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and "_dryrun" in request.POST:
            return self._dry_run_view(request, object_id, form_url, extra_context)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def _dry_run_view(self, request, object_id, form_url, extra_context):
        add = object_id is None
        obj = None
        if add:
            if not self.has_add_permission(request):
                raise PermissionDenied
        else:
            obj = self.get_object(request, unquote(object_id))
            if obj is None:
                return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
            if not self.has_change_permission(request, obj):
                raise PermissionDenied
        was_active = bool(obj and obj.active)
        fieldsets = self.get_fieldsets(request, obj)
        form = self.get_form(request, obj, change=not add, fields=flatten_fieldsets(fieldsets))(
            request.POST, request.FILES, instance=obj)
        report, problem = None, None
        try:
            last_n = int(request.POST.get("_dryrun_last_n") or DRY_RUN_DEFAULT)
        except ValueError:
            last_n = DRY_RUN_DEFAULT
        if form.is_valid():
            candidate = form.save(commit=False)  # changed in memory only
            try:
                # Unticking "active" on an active policy asks what deactivating changes; otherwise the question is
                # what the policy changes once active.
                report = policy_dry_run(policy=candidate, last_n=last_n,
                                        activate=not (was_active and not candidate.active))
            except ServiceError as exc:
                problem = exc.message
        admin_form = helpers.AdminForm(form, list(fieldsets), self.get_prepopulated_fields(request, obj),
                                       self.get_readonly_fields(request, obj), model_admin=self)
        context = {
            **self.admin_site.each_context(request),
            "title": (_("Add %s") if add else _("Change %s")) % self.opts.verbose_name,
            "subtitle": str(obj) if obj else None,
            "adminform": admin_form,
            "object_id": object_id,
            "original": obj,
            "is_popup": False,
            "to_field": None,
            "media": self.media + admin_form.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
            "dry_run": report,
            "dry_run_problem": problem,
            "dry_run_last_n": last_n,
            **(extra_context or {}),
        }
        return self.render_change_form(request, context, add=add, change=not add, obj=obj, form_url=form_url)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context.setdefault("dry_run_last_n", DRY_RUN_DEFAULT)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)


@admin.register(PolicyEvaluation)
class PolicyEvaluationAdmin(ReadOnlyAdmin):
    list_display = ("evaluated_at", "resource", "action", "result", "policy_name", "policy_version",
                    "default_applied")
    list_filter = ("result", "default_applied", "resource", "action")
    search_fields = ("policy_name", "=actor_id", "=id")
    date_hierarchy = "evaluated_at"
    fields = ("id", "evaluated_at", "resource", "action", "result", "reason", "policy", "policy_version",
              "policy_history", "default_applied", "actor_id", "context_json", "explanation_json")
    readonly_fields = fields
    list_select_related = ("policy",)

    @admin.display(description=_("context"))
    def context_json(self, obj) -> str:
        return pretty_json(obj.context)

    @admin.display(description=_("explanation"))
    def explanation_json(self, obj) -> str:
        return pretty_json(obj.explanation)


# --- autonomy and shadow ------------------------------------------------------------------------------------------


@admin.register(AutonomyProfile)
class AutonomyProfileAdmin(SimpleHistoryAdmin):
    list_display = ("agent_id", "base_level", "action_overrides", "max_daily_actions", "max_amount_per_action",
                    "updated_at")
    list_filter = ("base_level",)
    search_fields = ("=agent_id",)
    fields = ("agent_id", "base_level", "action_overrides", "max_daily_actions", "max_amount_per_action",
              "created_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        return ("created_at", "updated_at", *(("agent_id",) if obj else ()))

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # set the base level to 0 (forbidden) instead

    def save_model(self, request, obj, form, change) -> None:
        saved = autonomy_profile_set(
            agent_id=obj.agent_id, base_level=obj.base_level, action_overrides=obj.action_overrides,
            max_daily_actions=obj.max_daily_actions, max_amount_per_action=obj.max_amount_per_action,
            actor=request.user)
        _copy_into(obj, saved)


@admin.register(ShadowExecution)
class ShadowExecutionAdmin(ReadOnlyAdmin):
    """What agents in shadow mode would have done. Evidence only: nothing here is ever approved or executed."""

    list_display = ("created_at", "agent_id", "domain", "action", "reason")
    list_filter = ("domain", "action")
    search_fields = ("=agent_id", "=decision_id", "reason")
    date_hierarchy = "created_at"
    fields = ("id", "created_at", "agent_id", "decision_id", "domain", "action", "reason", "intent_json",
              "simulation_json")
    readonly_fields = fields

    @admin.display(description=_("intent"))
    def intent_json(self, obj) -> str:
        return pretty_json(obj.intent)

    @admin.display(description=_("simulation"))
    def simulation_json(self, obj) -> str:
        return pretty_json(obj.simulation)


# --- authorities --------------------------------------------------------------------------------------------------


class GrantForm(forms.ModelForm):
    reason = forms.CharField(label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    class Meta:
        model = DecisionAuthority
        fields = ("user", "role", "title", "scopes", "max_impact", "expires_at")

    granted_by = None  # set per request by the admin

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            authority_grant_check(granted_by=self.granted_by, user=data.get("user"), role=data.get("role"),
                                  scopes=data.get("scopes"), max_impact=data.get("max_impact"),
                                  expires_at=data.get("expires_at"))
        except ServiceError as exc:
            if exc.fields:
                for field, problems in exc.fields.items():
                    self.add_error(field if field in self.fields else None, problems)
            else:
                raise forms.ValidationError(exc.message, code=exc.code) from None
        return data


class RevokeForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), min_length=3, widget=forms.Textarea(attrs={"rows": 3}))


@admin.register(DecisionAuthority)
class DecisionAuthorityAdmin(SimpleHistoryAdmin):
    """Grants are made here through the service (nobody grants more than they hold); a grant is never edited,
    only revoked (with a reason) and granted anew."""

    list_display = ("user", "role", "title", "scopes", "max_impact", "active", "expires_at", "granted_by",
                    "granted_at")
    list_filter = ("active", "role", "max_impact")
    search_fields = ("user__username", "=user__id", "title")
    list_select_related = ("user", "granted_by")
    raw_id_fields = ("user",)
    actions = ("revoke",)
    all_fields = ("id", "user", "role", "title", "scopes", "max_impact", "active", "expires_at", "granted_by",
                  "granted_at", "revoked_at", "revoked_by", "revoke_reason")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = GrantForm
            form = super().get_form(request, obj, change=change, **kwargs)
            return type("GrantFormFor", (form,), {"granted_by": request.user})
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("user", "role", "title", "scopes", "max_impact", "expires_at", "reason")
        return self.all_fields

    def get_readonly_fields(self, request, obj=None):
        return self.all_fields if obj else ()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return  # every field is read-only: nothing to save
        data = form.cleaned_data
        saved = authority_grant(user=data["user"], role=data["role"], title=data.get("title") or "",
                                scopes=data["scopes"], max_impact=data["max_impact"], granted_by=request.user,
                                expires_at=data.get("expires_at"), reason=data.get("reason") or "")
        _copy_into(obj, saved)

    @admin.action(description=_("Revoke selected authorities…"), permissions=["change"])
    def revoke(self, request, queryset):
        form = RevokeForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            done = 0
            for authority in queryset:
                try:
                    authority_revoke(authority_id=authority.pk, revoked_by=request.user,
                                     reason=form.cleaned_data["reason"])
                    done += 1
                except ServiceError as exc:
                    self.message_user(request, f"{authority}: {exc.message}", messages.ERROR)
            if done:
                self.message_user(request, _("%(n)d authorities revoked.") % {"n": done})
            return None
        return TemplateResponse(request, "admin/governance/decisionauthority/revoke.html", {
            **self.admin_site.each_context(request), "title": _("Revoke decision authorities"),
            "opts": self.opts, "queryset": queryset, "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        })


# --- approvals ----------------------------------------------------------------------------------------------------


class DecidableFilter(admin.SimpleListFilter):
    title = _("inbox")
    parameter_name = "inbox"

    def lookups(self, request, model_admin):
        return [("mine", _("Mine to decide"))]

    def queryset(self, request, queryset):
        if self.value() == "mine":
            return queryset.filter(pk__in=approvals_decidable_by(user=request.user).values("pk"))
        return queryset


class DecideForm(forms.Form):
    decision = forms.ChoiceField(choices=ApprovalDecision.Decision.choices)
    justification = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 80}))


class ApprovalDecisionInline(ReadOnlyInline):
    model = ApprovalDecision
    fields = ("sequence", "decision", "decided_by", "authority", "justification", "decided_at", "hash")
    readonly_fields = fields
    ordering = ("sequence",)


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(SimpleHistoryAdmin, ReadOnlyAdmin):
    """The approval inbox. Requests are made by the domains; people decide them here (or over the API) through
    the one decide service, and only see the buttons their authority allows."""

    change_form_template = "admin/governance/approvalrequest/change_form.html"
    list_display = ("created_at", "domain", "action", "impact", "required_impact", "amount", "status",
                    "approvals", "required_approvals", "expires_at")
    list_filter = (DecidableFilter, "status", "domain", "impact")
    search_fields = ("=id", "reference", "action", "target_id")
    date_hierarchy = "created_at"
    inlines = (ApprovalDecisionInline,)
    fields = ("id", "status", "domain", "action", "impact", "required_impact", "required_approvals", "amount",
              "risk_score", "requested_by", "requested_by_type", "on_behalf_of", "reference", "target_type",
              "target_id", "callback", "policy_evaluation", "expires_at", "created_at", "decided_at",
              "callback_delivered_at", "context_json")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            approvals_count=Count("decisions", filter=Q(decisions__decision=ApprovalDecision.Decision.APPROVED)))

    @admin.display(description=_("approvals"), ordering="approvals_count")
    def approvals(self, obj) -> int:
        return obj.approvals_count

    @admin.display(description=_("context"))
    def context_json(self, obj) -> str:
        return pretty_json(obj.context)

    @admin.display(description=_("on behalf of"))
    def on_behalf_of(self, obj) -> str:
        """The request's parties: nobody listed here may decide it."""
        parties = list(obj.parties.select_related("user").order_by("id"))
        if not parties:
            return "—"
        return format_html("<ul class=\"approval-parties\">{}</ul>", format_html_join(
            "", "<li>{} ({})</li>", ((p.user, p.get_relation_display()) for p in parties)))

    def get_urls(self):
        return [path("<path:object_id>/decide/", self.admin_site.admin_view(self.decide_view),
                     name="governance_approvalrequest_decide"), *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        request_obj = self.get_object(request, unquote(object_id))
        extra = dict(extra_context or {})
        if request_obj is not None:
            choice = approval_decide_choice(request=request_obj, user=request.user)
            extra.update(decide_options=choice.options, decide_refusal=choice, decide_form=DecideForm(),
                         decide_url=reverse("admin:governance_approvalrequest_decide", args=[request_obj.pk]),
                         approval_panels=[panel.template for panel in _APPROVAL_PANELS])
            for panel in _APPROVAL_PANELS:
                extra.update(panel.context(request_obj))
        return super().change_view(request, object_id, form_url, extra)

    def decide_view(self, request, object_id):
        request_obj = get_object_or_404(ApprovalRequest, pk=unquote(object_id))
        if not self.has_view_permission(request, request_obj):
            raise PermissionDenied
        change_url = reverse("admin:governance_approvalrequest_change", args=[request_obj.pk])
        back = request.POST.get("next", "")
        if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                                    require_https=request.is_secure()):
            change_url = back  # the inbox posts here and comes back to itself
        if request.method != "POST":
            return HttpResponseRedirect(change_url)
        form = DecideForm(request.POST)
        if not form.is_valid():
            self.message_user(request, _("Choose a decision and give a justification."), messages.ERROR)
            return HttpResponseRedirect(change_url)
        try:
            outcome = approval_decide(
                request_id=request_obj.pk, user=request.user, decision=form.cleaned_data["decision"],
                justification=form.cleaned_data["justification"], ip=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""))
        except ServiceError as exc:
            details = "; ".join(m for msgs in exc.fields.values() for m in msgs)
            self.message_user(request, f"{exc.message} {details}".strip(), messages.ERROR)
            return HttpResponseRedirect(change_url)
        if outcome.final:
            message = _("Decision recorded: the request is %(status)s.") % {"status": outcome.request.status}
        elif outcome.decision.decision == ApprovalDecision.Decision.ESCALATED:
            message = _("Escalated: the request now needs an authority reaching %(impact)s.") % {
                "impact": outcome.request.required_impact}
        else:
            message = _("Approval recorded: %(n)d of %(m)d approvals.") % {"n": outcome.approvals,
                                                                            "m": outcome.required_approvals}
        self.message_user(request, message, messages.SUCCESS)
        return HttpResponseRedirect(change_url)


@admin.register(ApprovalDecision)
class ApprovalDecisionAdmin(ReadOnlyAdmin):
    change_list_template = "admin/governance/approvaldecision/change_list.html"
    list_display = ("decided_at", "request", "sequence", "decision", "decided_by", "authority", "ip")
    list_filter = ("decision",)
    search_fields = ("=request__id", "decided_by__username", "justification")
    list_select_related = ("request", "decided_by", "authority__user")
    date_hierarchy = "decided_at"
    fields = ("id", "request", "sequence", "decision", "justification", "authority", "decided_by", "decided_at",
              "ip", "user_agent", "previous_hash", "hash")
    readonly_fields = fields

    def get_urls(self):
        return [path("verify/", self.admin_site.admin_view(self.verify_view),
                     name="governance_approvaldecision_verify"), *super().get_urls()]

    def verify_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        report = approval_decisions_verify()
        self.message_user(request, report.summary(), messages.SUCCESS if report.ok else messages.ERROR)
        return HttpResponseRedirect(reverse("admin:governance_approvaldecision_changelist"))
