"""The ads rules as pure functions over a snapshot of the state.

The services call them on rows they hold locked; the simulations (``ads.simulations``) call them on rows they
only read. One implementation decides both, so a shadow-mode simulation answers what the real call would do.
"""
from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from ads import errors
from ads.models import AdAccount, AdBudget, AdCampaign


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> int:
        return 423 if self.code == errors.KILL_SWITCH_ACTIVE else 409


@dataclass(frozen=True)
class SpendState:
    """Everything a spend decision reads. ``balance`` is None when the ledger decides funds itself."""

    halted_by: str | None  # the global kill switch in force (ads, all, billing), if any
    halted_reason: str
    tenant_kill_switch: bool
    tenant_kill_switch_reason: str
    account_status: str
    campaign_status: str
    campaign_total_spent: int
    budget_status: str
    budget_total: int
    budget_spent: int
    max_spend_per_day: int | None
    spent_today: int
    max_spend_per_campaign: int | None
    balance: int | None = None


def spend_refusal(state: SpendState, amount: int) -> Refusal | None:
    """Why a spend of ``amount`` cents cannot be applied now, or None. The first failing check decides."""
    if state.halted_by:
        return Refusal(errors.KILL_SWITCH_ACTIVE,
                       _("Halted by the %(scope)s kill switch: %(reason)s")
                       % {"scope": state.halted_by, "reason": state.halted_reason},
                       {"scope": state.halted_by})
    if state.tenant_kill_switch:
        return Refusal(errors.KILL_SWITCH_ACTIVE,
                       _("The tenant's ads kill switch is on: %(reason)s")
                       % {"reason": state.tenant_kill_switch_reason},
                       {"scope": "tenant"})
    if state.account_status != AdAccount.Status.ACTIVE:
        return Refusal(errors.AD_ACCOUNT_SUSPENDED, _("The ad account is %(status)s.")
                       % {"status": state.account_status})
    if state.campaign_status != AdCampaign.Status.ACTIVE:
        return Refusal(errors.CAMPAIGN_NOT_ACTIVE, _("The campaign is %(status)s; only active campaigns spend.")
                       % {"status": state.campaign_status}, {"campaign_status": state.campaign_status})
    if state.budget_status == AdBudget.Status.DISPUTED:
        return Refusal(errors.BUDGET_DISPUTED, _("The budget is disputed; spending is stopped until it is resolved."))
    remaining = state.budget_total - state.budget_spent
    if state.budget_status == AdBudget.Status.EXHAUSTED or amount > remaining:
        return Refusal(errors.BUDGET_EXHAUSTED,
                       _("The budget has %(remaining)d cents left; this spend is %(amount)d.")
                       % {"remaining": remaining, "amount": amount},
                       {"budget_remaining": remaining})
    if state.max_spend_per_day is not None and state.spent_today + amount > state.max_spend_per_day:
        left = max(0, state.max_spend_per_day - state.spent_today)
        return Refusal(errors.TENANT_DAILY_LIMIT,
                       _("The tenant may spend %(limit)d cents a day; %(left)d are left today.")
                       % {"limit": state.max_spend_per_day, "left": left},
                       {"max_spend_per_day": state.max_spend_per_day, "spent_today": state.spent_today})
    if (state.max_spend_per_campaign is not None
            and state.campaign_total_spent + amount > state.max_spend_per_campaign):
        left = max(0, state.max_spend_per_campaign - state.campaign_total_spent)
        return Refusal(errors.TENANT_CAMPAIGN_LIMIT,
                       _("A campaign of this tenant may spend %(limit)d cents in all; %(left)d are left.")
                       % {"limit": state.max_spend_per_campaign, "left": left},
                       {"max_spend_per_campaign": state.max_spend_per_campaign,
                        "campaign_total_spent": state.campaign_total_spent})
    if state.balance is not None:
        return funds_refusal(state.balance, amount)
    return None


def funds_refusal(balance: int, amount: int) -> Refusal | None:
    """The ledger's own rule (``billing.services.ledger``): no debit below zero."""
    if balance < amount:
        return Refusal(errors.INSUFFICIENT_FUNDS,
                       _("The balance (%(balance)d) is lower than the debit (%(amount)d).")
                       % {"balance": balance, "amount": amount},
                       {"balance": balance, "amount": amount})
    return None


@dataclass(frozen=True)
class ActivationState:
    halted_by: str | None
    halted_reason: str
    tenant_kill_switch: bool
    account_status: str
    campaign_status: str
    budget_status: str
    budget_remaining: int


def activation_refusal(state: ActivationState) -> Refusal | None:
    """Why a draft or paused campaign cannot become active now, or None (an active one stays active)."""
    if state.campaign_status == AdCampaign.Status.COMPLETED:
        return Refusal(errors.CAMPAIGN_STATE, _("A completed campaign cannot run again."))
    if state.campaign_status == AdCampaign.Status.ACTIVE:
        return None
    if state.halted_by:
        return Refusal(errors.KILL_SWITCH_ACTIVE, _("Halted by the %(scope)s kill switch: %(reason)s")
                       % {"scope": state.halted_by, "reason": state.halted_reason}, {"scope": state.halted_by})
    if state.tenant_kill_switch:
        return Refusal(errors.KILL_SWITCH_ACTIVE, _("The tenant's ads kill switch is on."), {"scope": "tenant"})
    if state.account_status != AdAccount.Status.ACTIVE:
        return Refusal(errors.AD_ACCOUNT_SUSPENDED, _("The ad account is %(status)s.")
                       % {"status": state.account_status})
    if state.budget_status == AdBudget.Status.DISPUTED:
        return Refusal(errors.BUDGET_DISPUTED, _("The campaign's budget is disputed."))
    if state.budget_status == AdBudget.Status.EXHAUSTED or state.budget_remaining <= 0:
        return Refusal(errors.BUDGET_EXHAUSTED, _("The campaign's budget is exhausted; raise it first."),
                       {"budget_remaining": state.budget_remaining})
    return None


def pause_refusal(campaign_status: str) -> Refusal | None:
    """Only a running campaign can be paused (a paused one stays paused)."""
    if campaign_status in (AdCampaign.Status.ACTIVE, AdCampaign.Status.PAUSED):
        return None
    return Refusal(errors.CAMPAIGN_STATE, _("A %(status)s campaign cannot be paused.") % {"status": campaign_status},
                   {"campaign_status": campaign_status})


def amount_refusal(*, amount_total: int, amount_spent: int, closed: bool, raising: bool, halted_by: str | None,
                   tenant_kill_switch: bool) -> Refusal | None:
    """Why a budget's total cannot become ``amount_total``, or None."""
    if closed:
        return Refusal(errors.BUDGET_CLOSED, _("This budget's period is over; change the current period's budget."))
    if amount_total < amount_spent:
        return Refusal(errors.AMOUNT_BELOW_SPENT,
                       _("The budget already spent %(spent)d cents; its total cannot be lower.")
                       % {"spent": amount_spent}, {"amount_spent": amount_spent})
    if raising and halted_by:
        return Refusal(errors.KILL_SWITCH_ACTIVE, _("Halted by the %(scope)s kill switch.") % {"scope": halted_by},
                       {"scope": halted_by})
    if raising and tenant_kill_switch:
        return Refusal(errors.KILL_SWITCH_ACTIVE, _("The tenant's ads kill switch is on."), {"scope": "tenant"})
    return None


def status_after_amount(*, status: str, amount_total: int, amount_spent: int) -> str:
    """A budget is exhausted exactly when it spent its total (a dispute overrides both)."""
    if status == AdBudget.Status.DISPUTED:
        return status
    return AdBudget.Status.EXHAUSTED if amount_spent >= amount_total else AdBudget.Status.ACTIVE


# --- periods --------------------------------------------------------------------------------------------------


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def period_bounds(period: str, at: datetime) -> tuple[datetime, datetime | None]:
    """The period of kind ``period`` that contains ``at``, in the project's time zone (``TIME_ZONE``).

    ``[start, end)``: a calendar day, or a calendar month; a lifetime budget starts at ``at`` and never ends.
    """
    local = timezone.localtime(at)
    if period == AdBudget.Period.DAILY:
        day = local.date()
        return _midnight(day), _midnight(day + timedelta(days=1))
    if period == AdBudget.Period.MONTHLY:
        first = local.date().replace(day=1)
        next_first = first + timedelta(days=monthrange(first.year, first.month)[1])
        return _midnight(first), _midnight(next_first)
    return at, None


def spend_day(at: datetime) -> date:
    """The calendar day (``TIME_ZONE``) that a spend at ``at`` counts towards for ``max_spend_per_day``."""
    return timezone.localtime(at).date()
