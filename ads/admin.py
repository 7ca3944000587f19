"""The console for ads: accounts, budgets, campaigns with their spend progress, spend events (read-only), tenant
limits with their history, and the tenant kill switch.

Every change goes through ``ads.services`` (so it is locked, checked and audited): admin actions, and the limits
form. Actions that need a reason show a confirmation page first.
"""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import F
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ads.models import AdAccount, AdBudget, AdCampaign, AdGovernanceLimit, AdSpendEvent, AdTenantDailySpend
from ads.services import (
    UNCHANGED,
    ad_account_set_status,
    ad_limits_kill_switch_activate,
    ad_limits_kill_switch_deactivate,
    ad_limits_set,
    budget_dispute,
    budget_dispute_resolve,
    budget_set_amount,
    campaign_activate,
    campaign_complete,
    campaign_pause,
)
from billing.models import MAX_AMOUNT
from core.admin import (
    NoRevertHistoryAdmin,
    ReadOnlyAdmin,
    ReadOnlyHistoryAdmin,
    ReasonForm,
    confirm_action,
    reason_field,
)
from core.errors import ServiceError
from core.validation import MIN_REASON
from infrastructure.admin import staff_locks_html


def _by(request, what: str) -> str:
    return f"{what} in the console by {request.user}"


def progress(spent: int, total: int):
    """A bar and the figures: what was spent of what may be spent."""
    percent = 0 if not total else min(100, round(100 * spent / total))
    return format_html('<progress value="{}" max="{}" style="width:8em"></progress> {} / {} ({}%)',
                       spent, total, spent, total, percent)


class AdsReasonForm(ReasonForm):
    reason = reason_field(max_length=1000)


class AmountForm(AdsReasonForm):
    amount_total = forms.IntegerField(label=_("new total (cents)"), min_value=1, max_value=MAX_AMOUNT)


@admin.register(AdAccount)
class AdAccountAdmin(ReadOnlyHistoryAdmin):
    list_display = ("name", "tenant", "user", "balance_account", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("id", "name", "tenant__id", "user__id")
    list_select_related = ("tenant", "user", "balance_account__user")
    actions = ("suspend", "reactivate")

    def _set(self, request, queryset, status: str) -> None:
        for account in queryset:
            ad_account_set_status(account_id=account.pk, status=status, reason=_by(request, status),
                                  actor=request.user)
        self.message_user(request, _("%(n)d ad account(s) now %(status)s.") % {"n": queryset.count(),
                                                                               "status": status})

    @admin.action(description=_("Suspend (their campaigns stop spending)"), permissions=["manage"])
    def suspend(self, request, queryset):
        self._set(request, queryset, AdAccount.Status.SUSPENDED)

    @admin.action(description=_("Reactivate"), permissions=["manage"])
    def reactivate(self, request, queryset):
        self._set(request, queryset, AdAccount.Status.ACTIVE)


@admin.register(AdBudget)
class AdBudgetAdmin(ReadOnlyHistoryAdmin):
    list_display = ("__str__", "ad_account", "period", "status", "spend", "period_start", "period_end", "current")
    list_filter = ("status", "period", ("closed_at", admin.EmptyFieldListFilter))
    search_fields = ("id", "name", "ad_account__name", "ad_account__id")
    list_select_related = ("ad_account",)
    actions = ("set_amount", "dispute", "resolve_dispute")
    readonly_fields = ("staff_locks",)

    @admin.display(description=_("staff locks"))
    def staff_locks(self, obj) -> str:
        """A total set here is a ceiling the tenant's API cannot raise."""
        return staff_locks_html(obj)

    @admin.display(description=_("spent / total"), ordering=F("amount_spent"))
    def spend(self, obj):
        return progress(obj.amount_spent, obj.amount_total)

    @admin.display(description=_("current period"), boolean=True)
    def current(self, obj) -> bool:
        return obj.is_current

    @admin.action(description=_("Set the total…"), permissions=["manage"])
    def set_amount(self, request, queryset):
        return confirm_action(
            self, request, queryset, title=_("Set the budget's total"), form_class=AmountForm,
            message=_("Never below what the budget spent; reaching it exhausts the budget and stops its campaigns. "
                      "The total set here is a ceiling the tenant's API and agents cannot raise (Staff locks)."),
            apply=lambda budget, data: budget_set_amount(budget_id=budget.pk, amount_total=data["amount_total"],
                                                         reason=data["reason"], actor=request.user))

    @admin.action(description=_("Mark disputed (stops its spending)…"), permissions=["manage"])
    def dispute(self, request, queryset):
        return confirm_action(
            self, request, queryset, title=_("Mark the budget disputed"), form_class=AdsReasonForm,
            apply=lambda budget, data: budget_dispute(budget_id=budget.pk, reason=data["reason"], actor=request.user))

    @admin.action(description=_("Resolve the dispute…"), permissions=["manage"])
    def resolve_dispute(self, request, queryset):
        return confirm_action(
            self, request, queryset, title=_("Resolve the budget's dispute"), form_class=AdsReasonForm,
            apply=lambda budget, data: budget_dispute_resolve(budget_id=budget.pk, reason=data["reason"],
                                                              actor=request.user))


@admin.register(AdCampaign)
class AdCampaignAdmin(ReadOnlyHistoryAdmin):
    list_display = ("name", "ad_account", "objective", "status", "stop_reason", "budget_progress", "total_spent",
                    "updated_at")
    list_filter = ("status", "objective", "stop_reason")
    search_fields = ("id", "name", "ad_account__name", "budget__id")
    list_select_related = ("ad_account", "budget")
    actions = ("activate", "pause", "complete")
    readonly_fields = ("staff_locks",)

    @admin.display(description=_("staff locks"))
    def staff_locks(self, obj) -> str:
        """A pause here is locked: the tenant's API and agents cannot resume the campaign."""
        return staff_locks_html(obj)

    @admin.display(description=_("budget spent / total"))
    def budget_progress(self, obj):
        return progress(obj.budget.amount_spent, obj.budget.amount_total)

    def _apply(self, request, queryset, service, verb: str) -> None:
        done = 0
        for campaign in queryset:
            try:
                service(campaign_id=campaign.pk, reason=_by(request, verb), actor=request.user)
                done += 1
            except ServiceError as exc:
                self.message_user(request, f"{campaign}: {exc.message} ({exc.code})", messages.ERROR)
        if done:
            self.message_user(request, _("%(n)d campaign(s) %(verb)s.") % {"n": done, "verb": verb})

    @admin.action(description=_("Activate / resume"), permissions=["manage"])
    def activate(self, request, queryset):
        self._apply(request, queryset, campaign_activate, "activated")

    @admin.action(description=_("Pause (locked: the tenant cannot resume it)"), permissions=["manage"])
    def pause(self, request, queryset):
        self._apply(request, queryset, campaign_pause, "paused")

    @admin.action(description=_("Complete (final)"), permissions=["manage"])
    def complete(self, request, queryset):
        self._apply(request, queryset, campaign_complete, "completed")


@admin.register(AdSpendEvent)
class AdSpendEventAdmin(ReadOnlyAdmin):
    """Spend events are append-only: the console only reads them."""

    list_display = ("created_at", "campaign", "amount", "quantity", "unit", "status", "failure_reason",
                    "ledger_entry")
    list_filter = ("status", "unit", "failure_reason")
    search_fields = ("id", "campaign__id", "campaign__name", "idempotency_key", "ledger_entry__id")
    list_select_related = ("campaign", "ledger_entry")
    date_hierarchy = "created_at"


@admin.register(AdTenantDailySpend)
class AdTenantDailySpendAdmin(ReadOnlyAdmin):
    list_display = ("day", "tenant", "amount_spent", "spend_count", "updated_at")
    search_fields = ("tenant__id",)
    date_hierarchy = "day"


class LimitsForm(forms.ModelForm):
    reason = forms.CharField(label=_("reason for the change"), min_length=MIN_REASON, max_length=1000)

    class Meta:
        model = AdGovernanceLimit
        fields = ("tenant", "max_spend_per_day", "max_spend_per_campaign")


@admin.register(AdGovernanceLimit)
class AdGovernanceLimitAdmin(NoRevertHistoryAdmin):
    list_display = ("tenant", "max_spend_per_day", "max_spend_per_campaign", "kill_switch", "kill_switch_reason",
                    "updated_at")
    list_filter = ("kill_switch",)
    search_fields = ("tenant__id",)
    list_select_related = ("tenant",)
    raw_id_fields = ("tenant",)
    form = LimitsForm
    actions = ("activate_kill_switch", "deactivate_kill_switch")

    def get_fields(self, request, obj=None):
        fields = ["tenant", "max_spend_per_day", "max_spend_per_campaign", "reason"]
        if obj is not None:
            fields += ["kill_switch", "kill_switch_reason", "kill_switch_activated_at", "updated_at"]
        return fields

    def get_readonly_fields(self, request, obj=None):
        readonly = ["kill_switch", "kill_switch_reason", "kill_switch_activated_at", "updated_at"]
        return ["tenant", *readonly] if obj is not None else readonly

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        limits = ad_limits_set(
            tenant_id=obj.tenant_id, reason=form.cleaned_data["reason"], actor=request.user,
            max_spend_per_day=form.cleaned_data["max_spend_per_day"] if "max_spend_per_day" in form.changed_data
            or not change else UNCHANGED,
            max_spend_per_campaign=form.cleaned_data["max_spend_per_campaign"]
            if "max_spend_per_campaign" in form.changed_data or not change else UNCHANGED)
        for field in limits._meta.concrete_fields:
            setattr(obj, field.attname, getattr(limits, field.attname))
        obj._state.adding, obj._state.db = False, limits._state.db

    def save_related(self, request, form, formsets, change):
        """Nothing related to save; the service already wrote the row."""

    @admin.action(description=_("Activate the kill switch for this tenant…"), permissions=["change"])
    def activate_kill_switch(self, request, queryset):
        return confirm_action(
            self, request, queryset, title=_("Activate the ads kill switch for these tenants"),
            form_class=AdsReasonForm,
            message=_("Every spend of these tenants is refused (423) until the switch is lifted."),
            apply=lambda limits, data: ad_limits_kill_switch_activate(tenant_id=limits.tenant_id,
                                                                      reason=data["reason"], actor=request.user))

    @admin.action(description=_("Lift the kill switch for this tenant…"), permissions=["change"])
    def deactivate_kill_switch(self, request, queryset):
        return confirm_action(
            self, request, queryset, title=_("Lift the ads kill switch for these tenants"),
            form_class=AdsReasonForm,
            apply=lambda limits, data: ad_limits_kill_switch_deactivate(tenant_id=limits.tenant_id,
                                                                        reason=data["reason"], actor=request.user))
