"""What an ads service would do, computed without writing anything (shadow mode for agents' decisions).

Each ``*_simulate`` function reads the current rows (no locks, no writes, no audit) and applies the same rules
(``ads.rules``) as the service it mirrors, so its answer is what the real call would do if nothing changed in
between. Domain errors are returned, not raised: bad input, unknown or foreign ids give ``would_apply=False``
with the same code and HTTP status that the service would raise.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from ads import errors, rules
from ads.models import AdAccount, AdBudget, AdCampaign
from ads.selectors import budget_current, budget_get, campaign_get, limits_for_tenant, tenant_spent_on
from ads.services.budgets import budget_ceiling_check
from ads.services.common import halted_by
from ads.services.spend import clean_spend
from billing.models import BillingAccount
from billing.services.ledger import validate_amount
from billing.tenancy import available_to_tenant
from core.errors import ServiceError
from infrastructure.services.killswitches import killswitch_halted_scopes
from infrastructure.services.staff_locks import staff_lock_ensure_unlocked


@dataclass(frozen=True)
class Simulation:
    """The simulated outcome: ``would_apply`` (the call would succeed), ``changes`` (it would change state),
    the refusal's ``code``/``status``/``message`` otherwise, and the target's state ``before`` and ``after``."""

    action: str
    would_apply: bool
    changes: bool
    target_type: str
    target_id: str | None
    code: str | None = None
    status: int | None = None
    message: str = ""
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _refused(action: str, target_type: str, target_id: Any, *, code: str, status: int, message: str,
             before: dict[str, Any] | None = None) -> Simulation:
    return Simulation(action=action, would_apply=False, changes=False, target_type=target_type,
                      target_id=str(target_id) if target_id else None, code=code, status=status, message=message,
                      before=before or {}, after=before or {})


def _guard(action: str, target_type: str, target_id: Any, run: Callable[[], Simulation]) -> Simulation:
    try:
        return run()
    except ServiceError as exc:
        return _refused(action, target_type, target_id, code=exc.code, status=exc.status, message=exc.message)


@dataclass(frozen=True)
class _View:
    """A campaign and its budget as the next locked operation would find them (a due period already rolled)."""

    campaign: AdCampaign
    budget: AdBudget
    campaign_status: str
    rolled_over: bool


def _view(campaign: AdCampaign, now) -> _View:
    budget = budget_current(budget=campaign.budget)
    status = campaign.status
    if budget.period_end is not None and budget.period_end <= now:
        # The rollover the service would run first: a fresh period with the same total.
        start, end = rules.period_bounds(budget.period, now)
        fresh_status = AdBudget.Status.DISPUTED if budget.status == AdBudget.Status.DISPUTED else AdBudget.Status.ACTIVE
        budget = AdBudget(pk=None, ad_account_id=budget.ad_account_id, name=budget.name,
                          amount_total=budget.amount_total, amount_spent=0, period=budget.period, status=fresh_status,
                          period_start=start, period_end=end)
        account_active = campaign.ad_account.status == AdAccount.Status.ACTIVE
        if (status == AdCampaign.Status.PAUSED and campaign.stop_reason == AdCampaign.StopReason.BUDGET_EXHAUSTED
                and fresh_status == AdBudget.Status.ACTIVE and account_active):
            status = AdCampaign.Status.ACTIVE
        return _View(campaign, budget, status, True)
    return _View(campaign, budget, status, False)


def _campaign_state(view: _View) -> dict[str, Any]:
    return {"status": view.campaign.status, "stop_reason": view.campaign.stop_reason,
            "total_spent": view.campaign.total_spent, "budget_id": str(view.campaign.budget_id)}


def _activation(action: str, *, campaign_id: Any, tenant_id: Any, resuming: bool) -> Simulation:
    def run() -> Simulation:
        campaign = campaign_get(campaign_id=campaign_id, tenant_id=tenant_id)
        view = _view(campaign, timezone.now())
        before = _campaign_state(view)
        if resuming and view.campaign_status == AdCampaign.Status.DRAFT:
            return _refused(action, "ad_campaign", campaign.pk, code=errors.CAMPAIGN_STATE, status=409,
                            message=_("A draft campaign is activated, not resumed."), before=before)
        if tenant_id is not None:
            staff_lock_ensure_unlocked(target=campaign, attempted={"status": AdCampaign.Status.ACTIVE})
        scope, reason = halted_by()
        limits = limits_for_tenant(tenant_id=campaign.ad_account.tenant_id)
        refusal = rules.activation_refusal(rules.ActivationState(
            halted_by=scope, halted_reason=reason, tenant_kill_switch=bool(limits and limits.kill_switch),
            account_status=campaign.ad_account.status, campaign_status=view.campaign_status,
            budget_status=view.budget.status, budget_remaining=view.budget.remaining))
        if refusal is not None:
            return _refused(action, "ad_campaign", campaign.pk, code=refusal.code, status=refusal.status,
                            message=refusal.message, before=before)
        after = {**before, "status": AdCampaign.Status.ACTIVE, "stop_reason": ""}
        return Simulation(action=action, would_apply=True, changes=after != before, target_type="ad_campaign",
                          target_id=str(campaign.pk), before=before, after=after)

    return _guard(action, "ad_campaign", campaign_id, run)


def campaign_activate_simulate(*, campaign_id: Any, tenant_id: Any = None) -> Simulation:
    """What ``campaign_activate`` would do."""
    return _activation("activate_campaign", campaign_id=campaign_id, tenant_id=tenant_id, resuming=False)


def campaign_resume_simulate(*, campaign_id: Any, tenant_id: Any = None) -> Simulation:
    """What ``campaign_resume`` would do."""
    return _activation("resume_campaign", campaign_id=campaign_id, tenant_id=tenant_id, resuming=True)


def campaign_pause_simulate(*, campaign_id: Any, tenant_id: Any = None) -> Simulation:
    """What ``campaign_pause`` would do."""
    action = "pause_campaign"

    def run() -> Simulation:
        campaign = campaign_get(campaign_id=campaign_id, tenant_id=tenant_id)
        before = {"status": campaign.status, "stop_reason": campaign.stop_reason}
        refusal = rules.pause_refusal(campaign.status)
        if refusal is not None:
            return _refused(action, "ad_campaign", campaign.pk, code=refusal.code, status=refusal.status,
                            message=refusal.message, before=before)
        after = {"status": AdCampaign.Status.PAUSED, "stop_reason": AdCampaign.StopReason.MANUAL}
        return Simulation(action=action, would_apply=True, changes=after != before, target_type="ad_campaign",
                          target_id=str(campaign.pk), before=before, after=after)

    return _guard(action, "ad_campaign", campaign_id, run)


def budget_set_amount_simulate(*, budget_id: Any, amount_total: Any, tenant_id: Any = None) -> Simulation:
    """What ``budget_set_amount`` would do: the new total and status, and the campaigns it would stop or resume."""
    action = "set_budget"

    def run() -> Simulation:
        total = validate_amount(amount_total, field="amount_total")
        budget = budget_get(budget_id=budget_id, tenant_id=tenant_id)
        before = {"amount_total": budget.amount_total, "amount_spent": budget.amount_spent, "status": budget.status}
        if tenant_id is not None:
            budget_ceiling_check(budget=budget, amount_total=total)
        scope, _reason = halted_by()
        limits = limits_for_tenant(tenant_id=budget.ad_account.tenant_id)
        refusal = rules.amount_refusal(amount_total=total, amount_spent=budget.amount_spent,
                                       closed=budget.closed_at is not None, raising=total > budget.amount_total,
                                       halted_by=scope, tenant_kill_switch=bool(limits and limits.kill_switch))
        if refusal is not None:
            return _refused(action, "ad_budget", budget.pk, code=refusal.code, status=refusal.status,
                            message=refusal.message, before=before)
        status = rules.status_after_amount(status=budget.status, amount_total=total, amount_spent=budget.amount_spent)
        after = {"amount_total": total, "amount_spent": budget.amount_spent, "status": status}
        campaigns = budget.campaigns.all()
        if status == AdBudget.Status.EXHAUSTED and budget.status == AdBudget.Status.ACTIVE:
            after["stopped_campaigns"] = sorted(str(c) for c in campaigns.filter(status=AdCampaign.Status.ACTIVE)
                                                .values_list("pk", flat=True))
        elif status == AdBudget.Status.ACTIVE and budget.status == AdBudget.Status.EXHAUSTED:
            resumable = campaigns.filter(status=AdCampaign.Status.PAUSED,
                                         stop_reason=AdCampaign.StopReason.BUDGET_EXHAUSTED)
            account_active = budget.ad_account.status == AdAccount.Status.ACTIVE
            after["resumed_campaigns"] = sorted(str(c) for c in resumable.values_list("pk", flat=True)) \
                if account_active else []
        return Simulation(action=action, would_apply=True, changes=total != budget.amount_total,
                          target_type="ad_budget", target_id=str(budget.pk), before=before, after=after)

    return _guard(action, "ad_budget", budget_id, run)


def campaign_spend_simulate(*, campaign_id: Any, amount: Any, quantity: Any, unit: Any, tenant_id: Any = None,
                            idempotency_key: str = "") -> Simulation:
    """What ``campaign_spend`` would do: the refusal code, or the budget, campaign, day and balance after it."""
    action = "record_spend"

    def run() -> Simulation:
        amount_, _quantity, _unit, key = clean_spend(amount=amount, quantity=quantity, unit=unit,
                                                     idempotency_key=idempotency_key)
        campaign = campaign_get(campaign_id=campaign_id, tenant_id=tenant_id)
        if key and campaign.spend_events.filter(idempotency_key=key, status="applied").exists():
            return Simulation(action=action, would_apply=True, changes=False, target_type="ad_campaign",
                              target_id=str(campaign.pk), message=_("Already applied with this key: a replay."))
        now = timezone.now()
        view = _view(campaign, now)
        tenant_id_ = campaign.ad_account.tenant_id
        limits = limits_for_tenant(tenant_id=tenant_id_)
        spent_today = tenant_spent_on(tenant_id=tenant_id_, day=rules.spend_day(now))
        # What the spend may draw on: the tenant's funds in the holder's account, never more than its balance.
        balance = available_to_tenant(account=BillingAccount.objects.get(pk=campaign.ad_account.balance_account_id),
                                      tenant_id=tenant_id_)
        scope, reason = halted_by()
        state = rules.SpendState(
            halted_by=scope, halted_reason=reason,
            tenant_kill_switch=bool(limits and limits.kill_switch),
            tenant_kill_switch_reason=limits.kill_switch_reason if limits else "",
            account_status=campaign.ad_account.status, campaign_status=view.campaign_status,
            campaign_total_spent=campaign.total_spent, budget_status=view.budget.status,
            budget_total=view.budget.amount_total, budget_spent=view.budget.amount_spent,
            max_spend_per_day=limits.max_spend_per_day if limits else None, spent_today=spent_today,
            max_spend_per_campaign=limits.max_spend_per_campaign if limits else None)
        before = {"budget_id": str(view.budget.pk) if view.budget.pk else None, "budget_spent": state.budget_spent,
                  "budget_total": state.budget_total, "budget_status": state.budget_status,
                  "campaign_status": state.campaign_status, "campaign_total_spent": state.campaign_total_spent,
                  "tenant_spent_today": spent_today, "balance": balance, "new_period": view.rolled_over}
        # The order of the real spend: its own rules, then the ledger's (billing kill switch, then funds).
        refusal = rules.spend_refusal(state, amount_) or _ledger_refusal(balance, amount_)
        if refusal is not None:
            return _refused(action, "ad_campaign", campaign.pk, code=refusal.code, status=refusal.status,
                            message=refusal.message, before=before)
        spent = state.budget_spent + amount_
        exhausted = spent >= state.budget_total
        after = {**before, "budget_spent": spent, "budget_remaining": state.budget_total - spent,
                 "budget_status": AdBudget.Status.EXHAUSTED if exhausted else state.budget_status,
                 "campaign_status": AdCampaign.Status.PAUSED if exhausted else state.campaign_status,
                 "campaign_total_spent": state.campaign_total_spent + amount_,
                 "tenant_spent_today": spent_today + amount_, "balance": balance - amount_}
        return Simulation(action=action, would_apply=True, changes=True, target_type="ad_campaign",
                          target_id=str(campaign.pk), before=before, after=after)

    return _guard(action, "ad_campaign", campaign_id, run)


def _ledger_refusal(balance: int, amount: int) -> rules.Refusal | None:
    halted = killswitch_halted_scopes("billing")
    if halted:
        switch = sorted(halted, key=lambda s: s.scope != "all")[0]
        return rules.Refusal(errors.KILL_SWITCH_ACTIVE, _("Halted by the %(scope)s kill switch: %(reason)s")
                             % {"scope": switch.scope, "reason": switch.reason}, {"scope": switch.scope})
    return rules.funds_refusal(balance, amount)
