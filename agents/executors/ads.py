"""Ads executors: pause and resume a campaign, set a budget's total, record a spend.

Each calls ``ads.services`` (so the ads kill switch, the tenant's limits, budgets and locks apply at execution
time) and simulates with ``ads.simulations`` (the same rules, without writing).
"""
from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from ads import selectors as ads_selectors
from ads import services as ads_services
from ads import simulations
from ads.services.spend import clean_spend
from agents.executors import (
    ExecutionContext,
    Prepared,
    PreparedAction,
    Target,
    payload_check,
    payload_text,
    register_executor,
)
from billing.services.ledger import validate_amount
from core.errors import NotFound
from governance.jsonvalues import json_ready
from identity.models import Application
from identity.selectors import person_reachable

DOMAIN = "ads"


def _campaign_facts(campaign) -> dict[str, Any]:
    return {"campaign_status": campaign.status, "campaign_total_spent": campaign.total_spent,
            "budget_id": str(campaign.budget_id), "ad_account_id": str(campaign.ad_account_id)}


# --- pause / resume -------------------------------------------------------------------------------------------------


def _prepare_campaign_status(*, tenant_id: Any, app_id: Any, target: Target, payload: dict[str, Any]) -> Prepared:
    payload = payload_check(payload, optional=("reason",))
    reason = payload_text(payload, "reason")
    campaign = ads_selectors.campaign_get(campaign_id=target.id, tenant_id=tenant_id)
    return Prepared(payload={"reason": reason} if reason else {}, amount=0, target_type="ad_campaign",
                    target_id=str(campaign.pk), context=_campaign_facts(campaign))


def _campaign_result(campaign) -> dict[str, Any]:
    return {"campaign_id": str(campaign.pk), "status": campaign.status, "stop_reason": campaign.stop_reason}


def _reason(action: PreparedAction, ctx: ExecutionContext) -> str:
    return (action.payload.get("reason") or ctx.reason)[:100]


def _pause_simulate(action: PreparedAction) -> dict[str, Any]:
    return simulations.campaign_pause_simulate(campaign_id=action.target_id, tenant_id=action.tenant_id).as_dict()


def _pause_execute(action: PreparedAction, ctx: ExecutionContext) -> dict[str, Any]:
    return _campaign_result(ads_services.campaign_pause(campaign_id=action.target_id, tenant_id=action.tenant_id,
                                                        reason=_reason(action, ctx)))


def _resume_simulate(action: PreparedAction) -> dict[str, Any]:
    return simulations.campaign_resume_simulate(campaign_id=action.target_id, tenant_id=action.tenant_id).as_dict()


def _resume_execute(action: PreparedAction, ctx: ExecutionContext) -> dict[str, Any]:
    return _campaign_result(ads_services.campaign_resume(campaign_id=action.target_id, tenant_id=action.tenant_id,
                                                         reason=_reason(action, ctx)))


# --- budget total ---------------------------------------------------------------------------------------------------


def _prepare_set_budget(*, tenant_id: Any, app_id: Any, target: Target, payload: dict[str, Any]) -> Prepared:
    payload = payload_check(payload, required=("amount_total",), optional=("reason",))
    total = validate_amount(payload["amount_total"], field="payload.amount_total")
    reason = payload_text(payload, "reason")
    if target.kind == "campaign":
        campaign = ads_selectors.campaign_get(campaign_id=target.id, tenant_id=tenant_id)
        budget = ads_selectors.budget_current(budget=campaign.budget)
    else:
        budget = ads_selectors.budget_get(budget_id=target.id, tenant_id=tenant_id)
    current = budget.amount_total
    return Prepared(
        payload={"amount_total": total, **({"reason": reason} if reason else {})}, amount=total,
        target_type="ad_budget", target_id=str(budget.pk),
        context={"current_total": current, "amount_spent": budget.amount_spent, "delta": total - current,
                 "change_ratio": round(total / current, 4), "raising": total > current,
                 "budget_status": budget.status, "period": budget.period},
    )


def _set_budget_simulate(action: PreparedAction) -> dict[str, Any]:
    return simulations.budget_set_amount_simulate(budget_id=action.target_id,
                                                  amount_total=action.payload["amount_total"],
                                                  tenant_id=action.tenant_id).as_dict()


def _set_budget_execute(action: PreparedAction, ctx: ExecutionContext) -> dict[str, Any]:
    budget = ads_services.budget_set_amount(budget_id=action.target_id, amount_total=action.payload["amount_total"],
                                            tenant_id=action.tenant_id, reason=_reason(action, ctx))
    return {"budget_id": str(budget.pk), "amount_total": budget.amount_total, "amount_spent": budget.amount_spent,
            "status": budget.status}


# --- spend ----------------------------------------------------------------------------------------------------------


def _prepare_spend(*, tenant_id: Any, app_id: Any, target: Target, payload: dict[str, Any]) -> Prepared:
    payload = payload_check(payload, required=("amount", "quantity", "unit"))
    amount, quantity, unit, _key = clean_spend(amount=payload["amount"], quantity=payload["quantity"],
                                               unit=payload["unit"])
    campaign = ads_selectors.campaign_get(campaign_id=target.id, tenant_id=tenant_id)
    # A spend moves the ad account holder's money: they must have proved themselves to the agent's application.
    if not person_reachable(app_id=app_id, user_id=campaign.ad_account.user_id):
        raise NotFound(_("The ad account's holder has not proved their identity to this application."),
                       code="app_user_unproven")
    return Prepared(payload={"amount": amount, "quantity": quantity, "unit": unit}, amount=amount,
                    target_type="ad_campaign", target_id=str(campaign.pk),
                    context={**_campaign_facts(campaign), "quantity": quantity, "unit": unit})


def _spend_key(decision_id: Any) -> str:
    # One applied spend per campaign and key (a unique index in ads): a decision can never spend twice.
    return f"agent_decision:{decision_id}"


def _spend_simulate(action: PreparedAction) -> dict[str, Any]:
    return simulations.campaign_spend_simulate(campaign_id=action.target_id, amount=action.payload["amount"],
                                               quantity=action.payload["quantity"], unit=action.payload["unit"],
                                               tenant_id=action.tenant_id).as_dict()


def _spend_execute(action: PreparedAction, ctx: ExecutionContext) -> dict[str, Any]:
    outcome = ads_services.campaign_spend(campaign_id=action.target_id, amount=action.payload["amount"],
                                          quantity=action.payload["quantity"], unit=action.payload["unit"],
                                          tenant_id=action.tenant_id, idempotency_key=_spend_key(ctx.decision_id),
                                          app=Application.objects.filter(pk=ctx.app_id).first() if ctx.app_id
                                          else None)
    return json_ready(outcome.as_dict(), field="execution")


def register() -> None:
    register_executor(DOMAIN, "pause_campaign", targets=("campaign",), prepare=_prepare_campaign_status,
                      simulate=_pause_simulate, execute=_pause_execute,
                      description="Pause an active campaign (ads.services.campaign_pause).",
                      payload_help='{"reason"?: text}')
    register_executor(DOMAIN, "resume_campaign", targets=("campaign",), prepare=_prepare_campaign_status,
                      simulate=_resume_simulate, execute=_resume_execute,
                      description="Resume a paused campaign (ads.services.campaign_resume).",
                      payload_help='{"reason"?: text}')
    register_executor(DOMAIN, "set_budget", targets=("budget", "campaign"), prepare=_prepare_set_budget,
                      simulate=_set_budget_simulate, execute=_set_budget_execute,
                      description="Raise or lower a budget's total (a campaign target means its current budget).",
                      payload_help='{"amount_total": cents, "reason"?: text}')
    register_executor(DOMAIN, "record_spend", targets=("campaign",), prepare=_prepare_spend,
                      simulate=_spend_simulate, execute=_spend_execute, moves_money=True,
                      description="Spend on a campaign: debits the ledger and the budget "
                                  "(ads.services.campaign_spend).",
                      payload_help='{"amount": cents, "quantity": integer, "unit": impression | click | conversion}')
