"""Campaigns: creation (draft), activation, pause, resume, completion."""
from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ads import errors, events, rules
from ads.models import AdAccount, AdBudget, AdCampaign
from ads.selectors import ad_account_get, budget_get, campaign_get, limits_for_tenant
from ads.services.accounts import clean_name
from ads.services.budgets import lock_current_budget
from ads.services.common import campaign_transition, halted_by, lock_campaign, raise_refusal
from audit.services import audit_record
from core.errors import Conflict, InvalidInput
from infrastructure.services.staff_locks import (
    is_staff_actor,
    staff_lock_ensure_unlocked,
    staff_lock_lift,
    staff_lock_set,
)


@transaction.atomic
def campaign_create(*, ad_account_id: Any, budget_id: Any, name: str, objective: str,
                    tenant_id: Any = None) -> AdCampaign:
    """A draft campaign of an ad account, spending from one of that account's current budgets."""
    name = clean_name(name)
    if objective not in AdCampaign.Objective.values:
        raise InvalidInput(fields={"objective": [_("Must be one of: %(v)s.")
                                                 % {"v": ", ".join(AdCampaign.Objective.values)}]})
    account = ad_account_get(account_id=ad_account_id, tenant_id=tenant_id)
    budget = budget_get(budget_id=budget_id, tenant_id=tenant_id)
    if budget.ad_account_id != account.pk:
        raise InvalidInput(_("The budget belongs to another ad account."), code=errors.BUDGET_ACCOUNT_MISMATCH,
                           fields={"budget_id": [_("Choose a budget of this ad account.")]})
    if budget.closed_at is not None:
        raise Conflict(_("This budget's period is over; use the current period's budget."), code=errors.BUDGET_CLOSED)
    campaign = AdCampaign.objects.create(ad_account=account, budget=budget, name=name, objective=objective)
    audit_record(events.AD_CAMPAIGN_CREATED, action="create", target_type="ad_campaign", target_id=campaign.pk,
                 after={"name": name, "objective": objective, "status": campaign.status,
                        "ad_account_id": account.pk, "budget_id": budget.pk})
    return campaign


def activation_state(*, campaign: AdCampaign, budget: AdBudget, account_status: str) -> rules.ActivationState:
    scope, reason = halted_by()
    limits = limits_for_tenant(tenant_id=campaign.ad_account.tenant_id)
    return rules.ActivationState(halted_by=scope, halted_reason=reason,
                                 tenant_kill_switch=bool(limits and limits.kill_switch),
                                 account_status=account_status, campaign_status=campaign.status,
                                 budget_status=budget.status, budget_remaining=budget.remaining)


def _activate(*, campaign_id: Any, tenant_id: Any, reason: str, actor: Any, resuming: bool) -> AdCampaign:
    found = campaign_get(campaign_id=campaign_id, tenant_id=tenant_id)
    # Lock order: budget (level 2), then campaign (level 3).
    budget = lock_current_budget(found.budget_id, now=timezone.now())
    campaign = lock_campaign(found.pk)
    campaign.ad_account = found.ad_account
    if resuming and campaign.status == AdCampaign.Status.DRAFT:
        raise Conflict(_("A draft campaign is activated, not resumed."), code=errors.CAMPAIGN_STATE)
    if tenant_id is not None:
        # Under the campaign's row lock, which a staff pause holds until it commits its lock.
        staff_lock_ensure_unlocked(target=campaign, attempted={"status": AdCampaign.Status.ACTIVE})
    account_status = AdAccount.objects.values_list("status", flat=True).get(pk=campaign.ad_account_id)
    refusal = rules.activation_refusal(activation_state(campaign=campaign, budget=budget,
                                                        account_status=account_status))
    if refusal is not None:
        raise_refusal(refusal)
    if tenant_id is None and is_staff_actor(actor):
        staff_lock_lift(target=campaign, reason=reason or _("resumed in the console"), actor=actor)
    if campaign.status == AdCampaign.Status.ACTIVE:
        return campaign
    return campaign_transition(campaign, status=AdCampaign.Status.ACTIVE, reason=reason or
                               ("resumed" if resuming else "activated"), actor=actor,
                               metadata={"from": campaign.status})


@transaction.atomic
def campaign_activate(*, campaign_id: Any, tenant_id: Any = None, reason: str = "", actor: Any = None) -> AdCampaign:
    """Start a draft or paused campaign. Refused (and nothing changes) when a kill switch is on (423), the ad
    account is suspended, or the budget is exhausted or disputed (409). An active campaign is returned as is.

    A campaign a staff member paused in the console is locked: the tenant's calls (``tenant_id`` given, the API
    and agents) are refused with 409 ``status_locked_by_staff``; staff activating it lift the lock."""
    return _activate(campaign_id=campaign_id, tenant_id=tenant_id, reason=reason, actor=actor, resuming=False)


@transaction.atomic
def campaign_resume(*, campaign_id: Any, tenant_id: Any = None, reason: str = "", actor: Any = None) -> AdCampaign:
    """Like ``campaign_activate``, for a paused campaign only (a draft answers 409 ``campaign_state_conflict``)."""
    return _activate(campaign_id=campaign_id, tenant_id=tenant_id, reason=reason, actor=actor, resuming=True)


@transaction.atomic
def campaign_pause(*, campaign_id: Any, tenant_id: Any = None, reason: str = "", actor: Any = None) -> AdCampaign:
    """Stop an active campaign; always allowed, kill switch or not. Pausing a campaign that its budget had
    stopped makes the stop a person's: it then stays paused when the budget reopens."""
    found = campaign_get(campaign_id=campaign_id, tenant_id=tenant_id)
    campaign = lock_campaign(found.pk)
    refusal = rules.pause_refusal(campaign.status)
    if refusal is not None:
        raise_refusal(refusal)
    if tenant_id is None and is_staff_actor(actor):
        # Even when the campaign is paused already: staff pausing it lock it (``campaign_activate``).
        staff_lock_set(target=campaign, tenant_id=found.ad_account.tenant_id, value={"status": "paused"},
                       reason=reason or _("paused in the console"), actor=actor)
    if campaign.status == AdCampaign.Status.PAUSED and campaign.stop_reason == AdCampaign.StopReason.MANUAL:
        return campaign
    return campaign_transition(campaign, status=AdCampaign.Status.PAUSED, stop_reason=AdCampaign.StopReason.MANUAL,
                               reason=reason or "paused", actor=actor)


@transaction.atomic
def campaign_complete(*, campaign_id: Any, tenant_id: Any = None, reason: str = "", actor: Any = None) -> AdCampaign:
    """End a campaign for good (it never spends or runs again)."""
    found = campaign_get(campaign_id=campaign_id, tenant_id=tenant_id)
    campaign = lock_campaign(found.pk)
    if campaign.status == AdCampaign.Status.COMPLETED:
        return campaign
    return campaign_transition(campaign, status=AdCampaign.Status.COMPLETED, reason=reason or "completed",
                               actor=actor)
