"""Each executor through the pipeline: the domain's services do the work and keep their own rules."""
from __future__ import annotations

import pytest
from django.test import override_settings

from agents.executors import executors
from agents.models import AgentExecutionLog
from billing.models import LedgerEntry, Payout
from governance.models import ShadowExecution
from tests.agents.conftest import codes

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]

PIX = {"type": "pix", "key": "pix-receiver@example.com"}


@pytest.fixture
def world(tenant, make_agent, make_ads, make_billing_account, policy, proposer):
    policy()
    ads = make_ads(tenant, balance=20_000, amount_total=10_000)
    account = make_billing_account(tenant, balance=50_000)
    agent = make_agent(tenant, level=3, policies={
        "ads": {"allowed_actions": ["pause_campaign", "resume_campaign", "set_budget", "record_spend"]},
        "billing": {"allowed_actions": ["credit", "refund", "payout"]}})
    return proposer(tenant, agent), ads, account


def test_every_action_of_the_issue_has_an_executor():
    assert {(e.domain, e.action) for e in executors()} == {
        ("ads", "pause_campaign"), ("ads", "resume_campaign"), ("ads", "set_budget"), ("ads", "record_spend"),
        ("billing", "credit"), ("billing", "refund"), ("billing", "payout")}
    assert {e.action for e in executors() if e.moves_money} == {"record_spend", "credit", "refund", "payout"}


def test_pause_then_resume(world):
    api, ads, _account = world
    target = f"campaign:{ads.campaign.pk}"
    assert api.propose("ads", "pause_campaign", target).json()["execution"]["detail"]["status"] == "paused"
    assert api.propose("ads", "resume_campaign", target).json()["execution"]["detail"]["status"] == "active"
    assert ads.refresh().campaign.status == "active"


def test_set_budget_on_a_budget_or_through_its_campaign(world):
    api, ads, _account = world
    body = api.propose("ads", "set_budget", f"budget:{ads.budget.pk}", {"amount_total": 25_000}).json()
    assert body["outcome"] == "executed" and body["amount"] == 25_000
    assert ads.refresh().budget.amount_total == 25_000
    body = api.propose("ads", "set_budget", f"campaign:{ads.campaign.pk}", {"amount_total": 12_000}).json()
    assert body["execution"]["detail"]["budget_id"] == str(ads.budget.pk)
    assert ads.refresh().budget.amount_total == 12_000


def test_the_policy_engine_sees_the_budget_change_ratio(world, policy):
    api, ads, _account = world
    policy("ads", "set_budget", effect="deny", priority=5, conditions=[{"field": "change_ratio", "op": "gt",
                                                                      "value": 1.5}])
    doubled = api.propose("ads", "set_budget", f"budget:{ads.budget.pk}", {"amount_total": 20_000}).json()
    assert doubled["reasons"][-1]["code"] == "policy_denied"
    small = api.propose("ads", "set_budget", f"budget:{ads.budget.pk}", {"amount_total": 11_000}).json()
    assert small["outcome"] == "executed"


def test_record_spend_debits_the_ledger_and_the_budget(world):
    api, ads, _account = world
    body = api.propose("ads", "record_spend", f"campaign:{ads.campaign.pk}",
                       {"amount": 3_000, "quantity": 60, "unit": "click"}, key="s-1").json()
    assert body["outcome"] == "executed"
    ads.refresh()
    assert (ads.budget.amount_spent, ads.campaign.total_spent) == (3_000, 3_000)
    assert ads.account.balance_account.balance == 17_000
    event = ads.campaign.spend_events.get()
    assert event.idempotency_key == f"agent_decision:{body['id']}"
    assert body["execution"]["detail"]["ledger_entry_id"] == str(event.ledger_entry_id)


def test_a_domain_refusal_at_execution_ends_the_decision_rejected_with_the_domain_code(world):
    api, ads, _account = world
    body = api.propose("ads", "record_spend", f"campaign:{ads.campaign.pk}",
                       {"amount": 10_001, "quantity": 1, "unit": "click"}, key="s-2").json()
    assert body["outcome"] == "rejected" and body["status"] == "rejected"
    assert body["reasons"][-1]["stage"] == "execution" and body["reasons"][-1]["code"] == "budget_exhausted"
    assert body["execution"]["result"] == "failed" and body["execution"]["error_code"] == "budget_exhausted"
    ads.refresh()
    assert ads.budget.amount_spent == 0 and ads.account.balance_account.balance == 20_000
    assert ads.campaign.spend_events.get().status == "failed"
    log = AgentExecutionLog.objects.get(decision_id=body["id"])
    assert (log.result, log.error_code) == ("failed", "budget_exhausted")


def test_credit(world):
    api, _ads, account = world
    body = api.propose("billing", "credit", f"account:{account.pk}", {"amount": 1_234}, key="c-1").json()
    assert body["outcome"] == "executed"
    account.refresh_from_db()
    assert account.balance == 51_234
    entry = LedgerEntry.objects.get(reference_id=f"agent_decision:{body['id']}")
    assert (entry.type, entry.amount, entry.account_id) == ("credit", 1_234, account.pk)


def test_refund_fixes_the_amount_when_proposed(world, tenant):
    from tests.billing.helpers import confirmed_payment

    api, _ads, account = world
    intent = confirmed_payment(account=account, app=tenant.app, amount=50_000)
    credit = intent.credit_entry
    body = api.propose("billing", "refund", f"entry:{credit.pk}", {"amount": 5_000}, key="r-1").json()
    assert body["outcome"] == "executed" and body["payload"]["amount"] == 5_000
    account.refresh_from_db()
    assert account.balance == 95_000
    rest = api.propose("billing", "refund", f"entry:{credit.pk}", {}, key="r-2").json()
    assert rest["payload"] == {"amount": 45_000} and rest["outcome"] == "executed"
    account.refresh_from_db()
    assert account.balance == 50_000
    nothing_left = api.propose("billing", "refund", f"entry:{credit.pk}", {}, key="r-3").json()
    assert nothing_left["outcome"] == "rejected" and nothing_left["reasons"][-1]["code"] == "invalid_correction"


@override_settings(BILLING_PAYOUT_APPROVAL_THRESHOLD=10_000)
def test_payout_below_and_above_the_billing_threshold(world):
    api, _ads, account = world
    small = api.propose("billing", "payout", f"account:{account.pk}", {"amount": 5_000, "destination": PIX},
                        key="p-1").json()
    assert small["outcome"] == "executed"
    assert small["execution"]["detail"]["approval"] == "not_required"
    large = api.propose("billing", "payout", f"account:{account.pk}", {"amount": 20_000, "destination": PIX},
                        key="p-2").json()
    # Executed by the agent alone: billing's own rule still holds the large payout for a finance officer.
    assert large["outcome"] == "executed"
    payout = Payout.objects.get(pk=large["execution"]["detail"]["payout_id"])
    assert payout.approval == "awaiting" and payout.idempotency_key == f"agent_decision:{large['id']}"
    account.refresh_from_db()
    assert account.balance == 25_000


@override_settings(BILLING_PAYOUT_APPROVAL_THRESHOLD=10_000)
def test_a_payout_approved_by_an_authority_is_approved_in_billing_too(world, policy, approver, decide, run_jobs):
    api, _ads, account = world
    policy("billing", "payout", effect="require_approval", priority=10)
    body = api.propose("billing", "payout", f"account:{account.pk}", {"amount": 20_000, "destination": PIX},
                       key="p-3").json()
    assert body["outcome"] == "pending_approval"
    decide(approver, body["approval_request_id"])
    run_jobs("governance.approval_callback")
    got = api.get(body["id"]).json()
    payout = Payout.objects.get(pk=got["execution"]["detail"]["payout_id"])
    assert payout.approval == "approved" and payout.decided_by_id == approver.pk


def test_shadow_simulations_of_billing_actions(world, tenant, make_agent, proposer, halt):
    _api, _ads, account = world
    shadow = proposer(tenant, make_agent(tenant, level=1, policies={
        "billing": {"allowed_actions": ["credit", "payout", "refund"]}}))
    credit = shadow.propose("billing", "credit", f"account:{account.pk}", {"amount": 100}, key="sc").json()
    simulation = ShadowExecution.objects.get(pk=credit["shadow_execution_id"]).simulation
    assert simulation["would_apply"] and simulation["after"] == {"balance": 50_100}
    payout = shadow.propose("billing", "payout", f"account:{account.pk}", {"amount": 60_000, "destination": PIX},
                            key="sp").json()
    simulation = ShadowExecution.objects.get(pk=payout["shadow_execution_id"]).simulation
    assert not simulation["would_apply"] and simulation["code"] == "insufficient_funds"
    assert "the domain would refuse it: insufficient_funds" in payout["reasons"][-1]["detail"]
    halt("billing")
    halted = shadow.propose("billing", "credit", f"account:{account.pk}", {"amount": 100}, key="sh").json()
    assert halted["reasons"] == [{"stage": "kill_switch", "code": "kill_switch_active",
                                  "detail": "the billing kill switch is on: test halt"}]
    account.refresh_from_db()
    assert account.balance == 50_000


def test_shadowed_spend_under_the_billing_switch_simulates_the_ledgers_refusal(world, tenant, make_agent, proposer,
                                                                               halt):
    _api, ads, _account = world
    shadow = proposer(tenant, make_agent(tenant, level=1, policies={"ads": {"allowed_actions": ["record_spend"]}}))
    halt("billing")
    body = shadow.propose("ads", "record_spend", f"campaign:{ads.campaign.pk}",
                          {"amount": 100, "quantity": 1, "unit": "click"}, key="ss").json()
    assert codes(body)[-1] == "autonomy_shadow"
    assert ShadowExecution.objects.get(pk=body["shadow_execution_id"]).simulation["code"] == "kill_switch_active"
    assert ads.refresh().budget.amount_spent == 0
