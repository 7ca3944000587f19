"""The console for agents: agents with their policies, autonomy and today's counters; decisions with their reasons,
risk factors and timeline; shadow decisions on their own; execution logs; observer suggestions with the decide
form; risk scores with their factor breakdown, their history and the per-app configuration.

Every change goes through ``agents.services`` (checked, with history and an audit event). Append-only rows
(execution logs, suggestions, human decisions, risk history) are read-only here.
"""
from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from agents import selectors
from agents.models import (
    Agent,
    AgentDailyStats,
    AgentDecision,
    AgentExecutionLog,
    AgentMemory,
    AgentPolicy,
    HumanDecision,
    RiskConfig,
    RiskHistory,
    RiskScore,
    ShadowDecision,
)
from agents.services.agents import agent_create, agent_policy_check, agent_policy_delete, agent_policy_set, agent_update
from agents.services.observer import suggestion_decide
from agents.services.risk import risk_config_check, risk_config_set, risk_scores_recompute
from audit.context import client_ip
from core.admin import NoRevertHistoryAdmin, ReadOnlyAdmin, ReadOnlyInline, ReasonForm, confirm_action, reason_field
from core.errors import ServiceError
from governance.models import AutonomyProfile
from governance.selectors import autonomy_resolve
from infrastructure.admin import staff_locks_html


def pretty_json(value) -> str:
    return format_html('<pre class="agents-json">{}</pre>',
                       json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str))


def factor_table(factors) -> str:
    """A risk score's breakdown: each factor's value, weight, contribution and why."""
    if not factors:
        return "-"
    rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                            ((f["name"], f"{f['value']:.3f}", f"{f['weight']:g}", f"{f['contribution']:.3f}",
                              f["detail"]) for f in factors))
    head = format_html("<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>", _("factor"), _("value"),
                       _("weight"), _("contribution"), _("why"))
    return format_html('<table class="agents-risk-factors">{}{}</table>', head, rows)


def _copy_into(target, source) -> None:
    """Make the admin's unsaved form instance the row a service saved (the admin then links to it)."""
    for field in source._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    target._state.adding = False
    target._state.db = source._state.db


def _service_errors(form, exc: ServiceError) -> None:
    if exc.fields:
        for name, problems in exc.fields.items():
            form.add_error(name if name in form.fields else None, problems)
    else:
        form.add_error(None, exc.message)


# --- agents ---------------------------------------------------------------------------------------------------------


class StatusReasonForm(ReasonForm):
    reason = reason_field(max_length=500)


class AgentPolicyForm(forms.ModelForm):
    class Meta:
        model = AgentPolicy
        fields = ("domain", "allowed_actions", "max_amount", "requires_approval", "max_risk_score", "daily_limit")

    def clean(self):
        data = super().clean()
        if self.errors or data.get("DELETE"):
            return data
        try:
            agent_policy_check(domain=data.get("domain"), allowed_actions=data.get("allowed_actions"),
                               max_amount=data.get("max_amount"),
                               requires_approval=bool(data.get("requires_approval")),
                               max_risk_score=data.get("max_risk_score"), daily_limit=data.get("daily_limit"))
        except ServiceError as exc:
            _service_errors(self, exc)
        return data


class AgentPolicyInline(admin.TabularInline):
    """Saved through ``agent_policy_set`` / ``agent_policy_delete`` (see ``AgentAdmin.save_formset``)."""

    model = AgentPolicy
    form = AgentPolicyForm
    extra = 0
    fields = ("domain", "allowed_actions", "max_amount", "requires_approval", "max_risk_score", "daily_limit",
              "updated_at")
    readonly_fields = ("updated_at",)


class AgentForm(forms.ModelForm):
    class Meta:
        model = Agent
        fields = ("tenant", "app", "name", "type", "status")


@admin.register(Agent)
class AgentAdmin(NoRevertHistoryAdmin):
    list_display = ("name", "type", "status", "tenant", "app", "autonomy_level", "today", "created_at")
    list_filter = ("type", "status")
    search_fields = ("name", "=id", "tenant__username", "=tenant__id")
    list_select_related = ("tenant", "app")
    raw_id_fields = ("tenant", "app")
    inlines = (AgentPolicyInline,)
    form = AgentForm
    actions = ("suspend", "reactivate")

    def get_readonly_fields(self, request, obj=None):
        fixed = ("tenant", "type") if obj is not None else ()
        return (*fixed, "staff_locks", "autonomy", "today_stats", "created_at", "updated_at")

    def get_fields(self, request, obj=None):
        return ("tenant", "app", "name", "type", "status", "staff_locks", "autonomy", "today_stats", "created_at",
                "updated_at")

    @admin.display(description=_("staff locks"))
    def staff_locks(self, obj) -> str:
        """The agent's status and policies that staff locked (suspending it here, or saving a policy here)."""
        return staff_locks_html(obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # decisions and suggestions point at agents: suspend instead

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            autonomy_base=Subquery(AutonomyProfile.objects.filter(agent_id=OuterRef("pk")).values("base_level")[:1]),
            actions_today=Subquery(AgentDailyStats.objects.filter(agent_id=OuterRef("pk"), date=timezone.localdate())
                                   .values("actions_count")[:1]))

    @admin.display(description=_("autonomy"))
    def autonomy_level(self, obj) -> str:
        level = getattr(obj, "autonomy_base", None)
        return _("default") if level is None else str(level)

    @admin.display(description=_("actions today"))
    def today(self, obj) -> int:
        return getattr(obj, "actions_today", None) or 0

    @admin.display(description=_("autonomy"))
    def autonomy(self, obj) -> str:
        if obj is None or obj.pk is None:
            return "-"
        profile = AutonomyProfile.objects.filter(agent_id=obj.pk).first()
        if profile is None:
            url = reverse("admin:governance_autonomyprofile_add") + f"?agent_id={obj.pk}"
            effective = autonomy_resolve(agent_id=obj.pk, action="*")
            return format_html('{} <a href="{}">{}</a>', _("level %(l)d (default, no profile)") % {
                "l": effective.level}, url, _("set a profile"))
        url = reverse("admin:governance_autonomyprofile_change", args=[profile.pk])
        overrides = ", ".join(f"{k}={v}" for k, v in sorted((profile.action_overrides or {}).items())) or "-"
        return format_html('{} <a href="{}">{}</a>', _("base level %(l)d; overrides: %(o)s") % {
            "l": profile.base_level, "o": overrides}, url, _("change"))

    @admin.display(description=_("today"))
    def today_stats(self, obj) -> str:
        stats = selectors.agent_stats_on(agent_id=obj.pk) if obj and obj.pk else None
        if stats is None:
            return _("no proposals today")
        return _("%(p)d proposals, %(a)d actions, %(ap)d approved, %(e)d executed, %(s)d shadowed, "
                 "%(r)d rejected") % {"p": stats.proposals_count, "a": stats.actions_count,
                                      "ap": stats.approved_count, "e": stats.executed_count,
                                      "s": stats.shadowed_count, "r": stats.rejected_count}

    def save_model(self, request, obj, form, change) -> None:
        data = form.cleaned_data
        if change:
            # The status only when it was changed here: a staff member's status is a lock (see agent_update).
            status = {"status": data["status"]} if "status" in form.changed_data else {}
            saved = agent_update(agent_id=obj.pk, name=data["name"], app_id=data["app"].pk if data.get("app") else None,
                                 actor=request.user, reason=str(_("changed in the console")), **status)
        else:
            saved = agent_create(tenant_id=data["tenant"].pk, name=data["name"], type=data["type"],
                                 status=data["status"], app_id=data["app"].pk if data.get("app") else None,
                                 actor=request.user)
        _copy_into(obj, saved)

    def save_formset(self, request, form, formset, change) -> None:
        if formset.model is not AgentPolicy:
            return super().save_formset(request, form, formset, change)
        agent = form.instance
        # What the admin's change message reads (a formset's save() would set these).
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline in formset.forms:
            data = inline.cleaned_data
            if not data or (not inline.has_changed() and not data.get("DELETE")):
                continue
            if data.get("DELETE"):
                if inline.instance.pk:
                    agent_policy_delete(agent_id=agent.pk, domain=inline.instance.domain, actor=request.user,
                                        reason=str(_("removed in the console")))
                    formset.deleted_objects.append(inline.instance)
                continue
            existing = inline.instance.pk is not None
            if existing and inline.instance.domain != data["domain"]:
                agent_policy_delete(agent_id=agent.pk, domain=inline.instance.domain, actor=request.user,
                                    reason=str(_("domain changed in the console")))
            policy, created = agent_policy_set(
                agent_id=agent.pk, domain=data["domain"], allowed_actions=data["allowed_actions"],
                max_amount=data.get("max_amount"), requires_approval=bool(data.get("requires_approval")),
                max_risk_score=data.get("max_risk_score"), daily_limit=data.get("daily_limit"), actor=request.user,
                reason=str(_("changed in the console")))
            if created:
                formset.new_objects.append(policy)
            else:
                formset.changed_objects.append((policy, inline.changed_data))
        return None

    def _set_status(self, request, queryset, status: str):
        return confirm_action(
            self, request, queryset, title=_("Set agents %(s)s") % {"s": status}, form_class=StatusReasonForm,
            done=_("%%(count)d agent(s) now %(s)s.") % {"s": status},
            apply=lambda agent, data: agent_update(agent_id=agent.pk, status=status, actor=request.user,
                                                   reason=data["reason"]))

    @admin.action(description=_("Suspend (their proposals are rejected)…"), permissions=["change"])
    def suspend(self, request, queryset):
        return self._set_status(request, queryset, Agent.Status.SUSPENDED)

    @admin.action(description=_("Reactivate…"), permissions=["change"])
    def reactivate(self, request, queryset):
        return self._set_status(request, queryset, Agent.Status.ACTIVE)


@admin.register(AgentPolicy)
class AgentPolicyAdmin(NoRevertHistoryAdmin, ReadOnlyAdmin):
    """Every agent's policies with their history; they are edited on their agent's page."""

    list_display = ("agent", "domain", "allowed_actions", "max_amount", "requires_approval", "max_risk_score",
                    "daily_limit", "updated_at")
    list_filter = ("domain", "requires_approval")
    search_fields = ("agent__name", "=agent__id")
    list_select_related = ("agent",)


@admin.register(AgentDailyStats)
class AgentDailyStatsAdmin(ReadOnlyAdmin):
    list_display = ("date", "agent", "proposals_count", "actions_count", "approved_count", "executed_count",
                    "shadowed_count", "rejected_count")
    list_select_related = ("agent",)
    search_fields = ("agent__name", "=agent__id")
    date_hierarchy = "date"


# --- decisions ------------------------------------------------------------------------------------------------------


class ExecutionInline(ReadOnlyInline):
    model = AgentExecutionLog
    fields = ("executed_at", "executed_by", "result", "approved_by", "error_code", "error_message")
    readonly_fields = fields
    ordering = ("executed_at",)


def _link(name: str, obj) -> str:
    if obj is None:
        return "-"
    opts = obj._meta
    return format_html('<a href="{}">{}</a>', reverse(f"admin:{opts.app_label}_{opts.model_name}_change",
                                                      args=[obj.pk]), name or str(obj))


class DecisionAdminBase(NoRevertHistoryAdmin, ReadOnlyAdmin):
    list_display = ("created_at", "agent", "domain", "proposed_action", "target_entity", "amount", "outcome",
                    "status", "risk_score", "risk_level")
    list_filter = ("outcome", "status", "domain", "risk_level", "autonomy_level")
    search_fields = ("=id", "agent__name", "=agent__id", "target_entity", "proposed_action")
    list_select_related = ("agent",)
    date_hierarchy = "created_at"
    inlines = (ExecutionInline,)
    fields = ("id", "agent", "app", "domain", "proposed_action", "target_entity", "amount", "outcome", "status",
              "reasons_table", "timeline", "risk_score", "risk_level", "risk_breakdown", "autonomy_level",
              "policy_evaluation_link", "approval_request_link", "shadow_execution_link", "reviewed_by",
              "expires_at", "created_at", "decided_at", "payload_json")
    readonly_fields = fields

    @admin.display(description=_("reasons"))
    def reasons_table(self, obj) -> str:
        rows = format_html_join("", "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                                ((r["stage"], r["code"], r["detail"]) for r in obj.reasons or []))
        return format_html('<table class="agents-reasons"><tr><th>{}</th><th>{}</th><th>{}</th></tr>{}</table>',
                           _("stage"), _("code"), _("detail"), rows)

    @admin.display(description=_("timeline"))
    def timeline(self, obj) -> str:
        entries = selectors.decision_timeline(decision=obj)
        return format_html('<ol class="agents-timeline">{}</ol>', format_html_join(
            "", "<li><time>{}</time> <strong>{}</strong>: {} {}</li>",
            ((timezone.localtime(e.at).strftime("%Y-%m-%d %H:%M:%S"), e.kind, e.title, e.detail) for e in entries)))

    @admin.display(description=_("risk factors"))
    def risk_breakdown(self, obj) -> str:
        return factor_table(obj.risk_factors)

    @admin.display(description=_("policy evaluation"))
    def policy_evaluation_link(self, obj) -> str:
        return _link("", obj.policy_evaluation)

    @admin.display(description=_("approval request"))
    def approval_request_link(self, obj) -> str:
        return _link("", obj.approval_request)

    @admin.display(description=_("shadow execution"))
    def shadow_execution_link(self, obj) -> str:
        return _link("", obj.shadow_execution)

    @admin.display(description=_("payload"))
    def payload_json(self, obj) -> str:
        return pretty_json(obj.payload)


@admin.register(AgentDecision)
class AgentDecisionAdmin(DecisionAdminBase):
    """Decisions with the reasons of every stage, their risk factors and their timeline."""


@admin.register(ShadowDecision)
class ShadowDecisionAdmin(DecisionAdminBase):
    """Decisions of agents in shadow mode: what they meant to do and what the domain says would have happened."""

    list_display = ("created_at", "agent", "domain", "proposed_action", "target_entity", "amount", "would_apply",
                    "risk_score")
    list_filter = ("domain", "proposed_action")
    inlines = ()

    def get_queryset(self, request):
        return super().get_queryset(request).filter(outcome=AgentDecision.Outcome.SHADOWED).select_related(
            "shadow_execution")

    @admin.display(description=_("the domain would apply it"), boolean=True)
    def would_apply(self, obj) -> bool | None:
        shadow = obj.shadow_execution
        return None if shadow is None else bool(shadow.simulation.get("would_apply"))


@admin.register(AgentExecutionLog)
class AgentExecutionLogAdmin(ReadOnlyAdmin):
    """Append-only: every execution of a decision and its result."""

    list_display = ("executed_at", "agent", "action", "executed_by", "result", "error_code", "decision")
    list_filter = ("result", "executed_by", "domain", "action")
    search_fields = ("=decision__id", "agent__name", "=agent__id", "error_code")
    list_select_related = ("agent", "decision")
    date_hierarchy = "executed_at"


# --- observer -------------------------------------------------------------------------------------------------------


class SuggestionStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("pending", _("pending")), *HumanDecision.Decision.choices]

    def queryset(self, request, queryset):
        if self.value() == "pending":
            return queryset.filter(last_decision__isnull=True)
        if self.value():
            return queryset.filter(last_decision=self.value())
        return queryset


class HumanDecisionInline(ReadOnlyInline):
    model = HumanDecision
    fields = ("created_at", "decision", "reason", "human", "channel", "ip", "user_agent")
    readonly_fields = fields
    ordering = ("created_at",)


class SuggestionDecideForm(forms.Form):
    decision = forms.ChoiceField(choices=HumanDecision.Decision.choices)
    reason = reason_field(max_length=2000)


def _can_decide(user) -> bool:
    return user.has_perm("agents.decide_suggestion")


@admin.register(AgentMemory)
class AgentMemoryAdmin(ReadOnlyAdmin):
    """Observer suggestions. Append-only; people decide them with the form on each suggestion's page."""

    change_form_template = "admin/agents/agentmemory/change_form.html"
    list_display = ("created_at", "agent_name", "tenant", "confidence", "finding_short", "status")
    list_filter = (SuggestionStatusFilter, "agent_name")
    search_fields = ("=id", "agent_name", "finding", "suggestion", "=snapshot_hash")
    list_select_related = ("tenant",)
    date_hierarchy = "created_at"
    inlines = (HumanDecisionInline,)
    fields = ("id", "agent_name", "observer", "tenant", "app", "confidence", "finding", "suggestion",
              "snapshot_hash", "snapshot_json", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        last = HumanDecision.objects.filter(suggestion=OuterRef("pk")).order_by("-created_at").values("decision")[:1]
        return super().get_queryset(request).annotate(last_decision=Subquery(last))

    @admin.display(description=_("finding"))
    def finding_short(self, obj) -> str:
        return obj.finding if len(obj.finding) <= 80 else obj.finding[:79] + "…"

    @admin.display(description=_("status"), ordering="last_decision")
    def status(self, obj) -> str:
        return obj.last_decision or "pending"

    @admin.display(description=_("snapshot"))
    def snapshot_json(self, obj) -> str:
        return pretty_json(obj.snapshot_data)

    def get_urls(self):
        return [path("<path:object_id>/decide/", self.admin_site.admin_view(self.decide_view),
                     name="agents_agentmemory_decide"), *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        suggestion = self.get_object(request, unquote(object_id))
        extra = dict(extra_context or {})
        if suggestion is not None:
            status = selectors.suggestion_status(suggestion=suggestion)
            extra.update(suggestion_status=status, decide_form=SuggestionDecideForm(),
                         can_decide=_can_decide(request.user) and status in ("pending", "deferred"),
                         decide_url=reverse("admin:agents_agentmemory_decide", args=[suggestion.pk]))
        return super().change_view(request, object_id, form_url, extra)

    def decide_view(self, request, object_id):
        suggestion = get_object_or_404(AgentMemory, pk=unquote(object_id))
        if not self.has_view_permission(request, suggestion) or not _can_decide(request.user):
            raise PermissionDenied
        change_url = reverse("admin:agents_agentmemory_change", args=[suggestion.pk])
        if request.method != "POST":
            return HttpResponseRedirect(change_url)
        form = SuggestionDecideForm(request.POST)
        if not form.is_valid():
            self.message_user(request, _("Choose a decision and give a reason of at least 3 characters."),
                              messages.ERROR)
            return HttpResponseRedirect(change_url)
        try:
            suggestion_decide(suggestion_id=suggestion.pk, user=request.user, decision=form.cleaned_data["decision"],
                              reason=form.cleaned_data["reason"], ip=client_ip(request),
                              user_agent=request.META.get("HTTP_USER_AGENT", ""), channel=HumanDecision.Channel.CONSOLE)
        except ServiceError as exc:
            details = "; ".join(m for msgs in exc.fields.values() for m in msgs)
            self.message_user(request, f"{exc.message} {details}".strip(), messages.ERROR)
            return HttpResponseRedirect(change_url)
        self.message_user(request, _("Decision recorded: %(d)s.") % {"d": form.cleaned_data["decision"]},
                          messages.SUCCESS)
        return HttpResponseRedirect(change_url)


@admin.register(HumanDecision)
class HumanDecisionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "suggestion", "decision", "human", "channel", "ip")
    list_filter = ("decision", "channel")
    search_fields = ("=suggestion__id", "human", "reason")
    list_select_related = ("suggestion",)
    date_hierarchy = "created_at"


# --- risk -----------------------------------------------------------------------------------------------------------


@admin.register(RiskScore)
class RiskScoreAdmin(ReadOnlyAdmin):
    change_list_template = "admin/agents/riskscore/change_list.html"
    list_display = ("app", "agent", "score", "level", "calculated_at")
    list_filter = ("level", ("agent", admin.EmptyFieldListFilter))
    search_fields = ("app__name", "=app__id", "agent__name")
    list_select_related = ("app", "agent")
    fields = ("app", "agent", "score", "level", "breakdown", "calculated_at")
    readonly_fields = fields

    @admin.display(description=_("factors"))
    def breakdown(self, obj) -> str:
        return factor_table(obj.factors)

    def get_urls(self):
        return [path("recompute/", self.admin_site.admin_view(self.recompute_view),
                     name="agents_riskscore_recompute"), *super().get_urls()]

    @staticmethod
    def _can_recompute(request) -> bool:
        return request.user.has_perm("agents.change_riskconfig")

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}),
                                                 "can_recompute": self._can_recompute(request)})

    def recompute_view(self, request):
        if request.method != "POST" or not self._can_recompute(request):
            raise PermissionDenied
        written = risk_scores_recompute()
        self.message_user(request, _("%(n)d risk scores recomputed.") % {"n": written}, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:agents_riskscore_changelist"))


@admin.register(RiskHistory)
class RiskHistoryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "app", "agent", "score", "level")
    list_filter = ("level",)
    search_fields = ("app__name", "=app__id", "agent__name")
    list_select_related = ("app", "agent")
    date_hierarchy = "created_at"
    fields = ("app", "agent", "score", "level", "breakdown", "created_at")
    readonly_fields = fields

    @admin.display(description=_("factors"))
    def breakdown(self, obj) -> str:
        return factor_table(obj.factors)


class RiskConfigForm(forms.ModelForm):
    class Meta:
        model = RiskConfig
        fields = ("app", "custom_weights", "thresholds")

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            risk_config_check(custom_weights=data.get("custom_weights") or {},
                              thresholds=data.get("thresholds") or {})
        except ServiceError as exc:
            _service_errors(self, exc)
        return data


@admin.register(RiskConfig)
class RiskConfigAdmin(NoRevertHistoryAdmin):
    form = RiskConfigForm
    list_display = ("app", "custom_weights", "thresholds", "updated_at")
    search_fields = ("app__name", "=app__id")
    list_select_related = ("app",)
    raw_id_fields = ("app",)

    def get_readonly_fields(self, request, obj=None):
        return ("app", "updated_at") if obj is not None else ("updated_at",)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # set the weights back to {} instead (the defaults)

    def save_model(self, request, obj, form, change) -> None:
        saved = risk_config_set(app_id=obj.app_id, custom_weights=form.cleaned_data.get("custom_weights") or {},
                                thresholds=form.cleaned_data.get("thresholds") or {}, actor=request.user)
        _copy_into(obj, saved)
