"""Decisions that wait for a person: approved → executed once (even when the callback comes twice), rejected or
expired → nothing executed, and the state re-checked at execution time."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from agents.models import AgentDailyStats, AgentDecision, AgentExecutionLog
from agents.services.decisions import decision_approval_approved, decision_approval_rejected
from billing.models import LedgerEntry
from governance.models import ApprovalRequest
from governance.services.approvals import approval_callback_deliver, approval_requests_expire
from tests.agents.conftest import codes

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


@pytest.fixture
def ads_world(tenant, make_agent, make_ads, policy, proposer):
    policy("ads", "*")
    ads = make_ads(tenant)
    agent = make_agent(tenant, level=3, policies={"ads": {"allowed_actions": ["pause_campaign", "record_spend"],
                                                          "requires_approval": True}})
    return proposer(tenant, agent), ads


def _pending(api, ads):
    response = api.propose("ads", "pause_campaign", f"campaign:{ads.campaign.pk}", {"reason": "fraud suspected"})
    body = response.json()
    assert response.status_code == 201 and body["outcome"] == "pending_approval", body
    return body


def test_a_pending_decision_names_its_approval_request(ads_world):
    api, ads = ads_world
    body = _pending(api, ads)
    assert body["status"] == "proposed" and body["execution"] is None
    assert body["reasons"][-1]["stage"] == "approval" and body["reasons"][-1]["code"] == "approval_required"
    assert "the agent's policy" in body["reasons"][-1]["detail"]
    request = ApprovalRequest.objects.get(pk=body["approval_request_id"])
    assert (request.domain, request.action, request.status, request.callback) == ("ads", "pause_campaign",
                                                                                  "pending", "agents")
    assert request.reference == body["id"] and request.requested_by_type == "agent"
    assert request.context["decision_id"] == body["id"] and request.risk_score == body["risk_score"]
    assert str(request.expires_at.isoformat()).startswith(body["expires_at"][:19])
    assert ads.refresh().campaign.status == "active"


def test_approved_through_the_governance_api_executes_once_even_when_delivered_twice(
        ads_world, approver, decide, run_jobs):
    api, ads = ads_world
    body = _pending(api, ads)
    decide(approver, body["approval_request_id"], "approved")
    assert ads.refresh().campaign.status == "active"  # nothing runs before the callback job
    assert run_jobs("governance.approval_callback") == 1
    assert ads.refresh().campaign.status == "paused"
    request = ApprovalRequest.objects.get(pk=body["approval_request_id"])
    # At-least-once delivery: the job again, and the callback itself again.
    assert approval_callback_deliver(request_id=request.pk) is False
    decision_approval_approved(request)
    decision_approval_approved(request)
    assert AgentExecutionLog.objects.filter(decision_id=body["id"]).count() == 1
    got = api.get(body["id"]).json()
    assert got["outcome"] == "executed" and got["status"] == "executed"
    assert got["reviewed_by"] == str(approver.pk)
    assert codes(got)[-2:] == ["approval_approved", "executed"]
    assert got["execution"]["executed_by"] == "human" and got["execution"]["approved_by"] == str(approver.pk)
    stats = AgentDailyStats.objects.get(agent=api.agent)
    assert (stats.actions_count, stats.approved_count, stats.executed_count, stats.rejected_count) == (1, 1, 1, 0)
    statuses = list(AgentDecision.history.filter(id=body["id"]).order_by("history_date")
                    .values_list("status", flat=True))
    assert statuses == ["proposed", "approved", "executed"]


def test_approved_credit_moves_the_ledger_once(tenant, make_agent, make_billing_account, policy, proposer, approver,
                                               decide, run_jobs):
    policy("billing", "credit", effect="require_approval")
    account = make_billing_account(tenant, balance=1_000)
    api = proposer(tenant, make_agent(tenant, level=3, policies={"billing": {"allowed_actions": ["credit"]}}))
    response = api.propose("billing", "credit", f"account:{account.pk}", {"amount": 2_500, "description": "goodwill"},
                           key="credit-1")
    body = response.json()
    assert body["outcome"] == "pending_approval" and "policy_requires_approval" in codes(body)
    decide(approver, body["approval_request_id"])
    run_jobs()
    request = ApprovalRequest.objects.get(pk=body["approval_request_id"])
    decision_approval_approved(request)
    account.refresh_from_db()
    assert account.balance == 3_500
    entries = LedgerEntry.objects.filter(account=account, reference_id=f"agent_decision:{body['id']}")
    assert [(e.type, e.amount) for e in entries] == [("credit", 2_500)]
    assert api.get(body["id"]).json()["execution"]["detail"]["balance_after"] == 3_500


def test_rejected_by_a_person_nothing_is_executed(ads_world, approver, decide, run_jobs):
    api, ads = ads_world
    body = _pending(api, ads)
    decide(approver, body["approval_request_id"], "rejected", "The campaign is performing within target.")
    run_jobs()
    decision_approval_rejected(ApprovalRequest.objects.get(pk=body["approval_request_id"]))  # delivered twice
    got = api.get(body["id"]).json()
    assert got["outcome"] == "rejected" and got["status"] == "rejected" and got["execution"] is None
    assert got["reasons"][-1] == {"stage": "approval", "code": "approval_rejected",
                                  "detail": f"rejected by {approver.username}"}
    assert got["reviewed_by"] == str(approver.pk)
    assert ads.refresh().campaign.status == "active"
    assert not AgentExecutionLog.objects.exists()
    assert AgentDailyStats.objects.get(agent=api.agent).rejected_count == 1


def test_an_expired_approval_rejects_the_decision(ads_world, run_jobs):
    api, ads = ads_world
    body = _pending(api, ads)
    later = timezone.now() + timedelta(days=1, minutes=1)
    assert approval_requests_expire(now=later) == 1
    run_jobs()
    got = api.get(body["id"]).json()
    assert got["outcome"] == "rejected" and got["reasons"][-1]["code"] == "approval_expired"
    assert got["reviewed_by"] is None
    assert ads.refresh().campaign.status == "active"
    assert not AgentExecutionLog.objects.exists()


def test_expires_in_sets_when_the_approval_expires(ads_world):
    api, ads = ads_world
    started = timezone.now()
    body = api.propose("ads", "pause_campaign", f"campaign:{ads.campaign.pk}", expires_in=600).json()
    request = ApprovalRequest.objects.get(pk=body["approval_request_id"])
    assert timedelta(seconds=595) < request.expires_at - started < timedelta(seconds=605)
    assert AgentDecision.objects.get(pk=body["id"]).expires_at == request.expires_at


def test_a_kill_switch_flipped_while_waiting_stops_the_execution(ads_world, approver, decide, run_jobs, halt):
    api, ads = ads_world
    body = _pending(api, ads)
    halt("agents")
    decide(approver, body["approval_request_id"])
    run_jobs()
    got = api.get(body["id"]).json()
    assert got["outcome"] == "rejected" and got["status"] == "rejected"
    assert got["reasons"][-1]["stage"] == "execution" and got["reasons"][-1]["code"] == "kill_switch_active"
    assert got["execution"]["result"] == "failed" and got["execution"]["error_code"] == "kill_switch_active"
    assert ads.refresh().campaign.status == "active"


def test_a_domain_switch_flipped_while_waiting_is_enforced_by_the_domain(
        tenant, make_agent, make_ads, policy, proposer, approver, decide, run_jobs, halt):
    """The billing switch is not one the agents pipeline checks for an ads spend; the ledger refuses it."""
    policy("ads", "*")
    ads = make_ads(tenant, balance=10_000)
    api = proposer(tenant, make_agent(tenant, level=3, policies={
        "ads": {"allowed_actions": ["record_spend"], "requires_approval": True}}))
    body = api.propose("ads", "record_spend", f"campaign:{ads.campaign.pk}",
                       {"amount": 1_000, "quantity": 10, "unit": "click"}, key="spend-1").json()
    assert body["outcome"] == "pending_approval"
    halt("billing")
    decide(approver, body["approval_request_id"])
    run_jobs()
    got = api.get(body["id"]).json()
    assert got["outcome"] == "rejected" and got["reasons"][-1]["code"] == "kill_switch_active"
    ads.refresh()
    assert ads.budget.amount_spent == 0 and ads.campaign.total_spent == 0
    assert ads.campaign.spend_events.get().status == "failed"  # the domain's own evidence of the refusal


def test_an_agent_suspended_while_waiting_is_not_executed(ads_world, approver, decide, run_jobs):
    from agents.services.agents import agent_update

    api, ads = ads_world
    body = _pending(api, ads)
    agent_update(agent_id=api.agent.pk, status="suspended")
    decide(approver, body["approval_request_id"])
    run_jobs()
    got = api.get(body["id"]).json()
    assert got["reasons"][-1]["code"] == "agent_suspended" and got["outcome"] == "rejected"
    assert ads.refresh().campaign.status == "active"


def test_a_decision_is_decided_only_by_an_authority_reaching_it(ads_world, signed_in, make_tenant):
    api, ads = ads_world
    body = _pending(api, ads)
    outsider = make_tenant().owner
    response = signed_in(outsider).post(f"/api/v1/governance/approvals/{body['approval_request_id']}/decisions",
                                        {"decision": "approved", "justification": "I would like it paused."},
                                        format="json")
    assert response.status_code == 403
    assert AgentDecision.objects.get(pk=body["id"]).status == "proposed"
