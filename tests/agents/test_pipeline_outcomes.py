"""The decision pipeline over the HTTP API, one outcome at a time: executed, shadowed, rejected at each stage."""
from __future__ import annotations

import pytest

from agents.models import AgentDailyStats, AgentDecision, AgentExecutionLog
from governance.models import ApprovalRequest, PolicyEvaluation, ShadowExecution
from tests.agents.conftest import codes

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]

ADS_POLICY = {"ads": {"allowed_actions": ["pause_campaign", "resume_campaign", "set_budget", "record_spend"],
                      "max_amount": 50_000}}


@pytest.fixture
def world(tenant, make_agent, make_ads, policy, proposer):
    policy("ads", "*")
    ads = make_ads(tenant)
    agent = make_agent(tenant, policies=ADS_POLICY, level=3)
    return proposer(tenant, agent), ads


def test_an_allowed_decision_at_level_3_is_executed(world):
    api, ads = world
    response = api.propose("ads", "pause_campaign", f"campaign:{ads.campaign.pk}", {"reason": "CPA too high"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["outcome"] == "executed" and body["status"] == "executed"
    assert codes(body) == ["kill_switches_clear", "agent_active", "within_agent_policy", "risk_within_limit",
                           "policy_allowed", "autonomy_full", "executed"]
    assert [r["stage"] for r in body["reasons"]] == ["kill_switch", "agent", "agent_policy", "risk", "policy",
                                                     "autonomy", "execution"]
    assert body["execution"]["result"] == "success" and body["execution"]["executed_by"] == "agent"
    assert body["execution"]["detail"] == {"campaign_id": str(ads.campaign.pk), "status": "paused",
                                           "stop_reason": "manual"}
    assert body["approval_request_id"] is None and body["shadow_execution_id"] is None
    assert 0 <= body["risk_score"] <= 1 and body["risk_factors"]
    ads.refresh()
    assert ads.campaign.status == "paused"
    log = AgentExecutionLog.objects.get(decision_id=body["id"])
    assert (log.result, log.executed_by, log.action, log.autonomy_level) == ("success", "agent", "pause_campaign", 3)
    evaluation = PolicyEvaluation.objects.get(pk=body["policy_evaluation_id"])
    assert evaluation.resource == "ads" and evaluation.action == "pause_campaign" and evaluation.result == "allowed"
    stats = AgentDailyStats.objects.get(agent=api.agent)
    assert (stats.proposals_count, stats.actions_count, stats.approved_count, stats.executed_count,
            stats.rejected_count) == (1, 1, 1, 1, 0)


def test_level_2_executes_and_says_it_is_audited(world, tenant, make_agent, proposer):
    _api, ads = world
    api = proposer(tenant, make_agent(tenant, policies=ADS_POLICY, level=2))
    body = api.propose("ads", "pause_campaign", f"campaign:{ads.campaign.pk}").json()
    assert body["outcome"] == "executed" and "autonomy_audited" in codes(body)
    assert body["autonomy_level"] == 2


def test_level_1_shadows_changes_nothing_and_writes_the_shadow_row(world, tenant, make_agent, proposer):
    _api, ads = world
    api = proposer(tenant, make_agent(tenant, policies=ADS_POLICY, level=1))
    before = (ads.campaign.status, ads.budget.amount_total, ads.budget.amount_spent)
    response = api.propose("ads", "set_budget", f"budget:{ads.budget.pk}", {"amount_total": 40_000})
    body = response.json()
    assert response.status_code == 201
    assert body["outcome"] == "shadowed" and body["status"] == "rejected" and body["execution"] is None
    assert codes(body)[-1] == "autonomy_shadow"
    ads.refresh()
    assert (ads.campaign.status, ads.budget.amount_total, ads.budget.amount_spent) == before
    shadow = ShadowExecution.objects.get(pk=body["shadow_execution_id"])
    assert shadow.decision_id == AgentDecision.objects.get(pk=body["id"]).pk
    assert shadow.simulation["would_apply"] is True
    assert shadow.simulation["after"]["amount_total"] == 40_000
    assert shadow.intent["payload"] == {"amount_total": 40_000}
    assert not AgentExecutionLog.objects.filter(decision_id=body["id"]).exists()
    assert not ApprovalRequest.objects.exists()


@pytest.mark.parametrize("scope", ["agents", "all", "ads"])
def test_a_kill_switch_rejects_first(world, halt, scope):
    api, ads = world
    halt(scope)
    body = api.propose("ads", "pause_campaign", f"campaign:{ads.campaign.pk}").json()
    assert body["outcome"] == "rejected"
    assert body["reasons"] == [{"stage": "kill_switch", "code": "kill_switch_active",
                                "detail": f"the {scope} kill switch is on: test halt"}]
    assert ads.refresh().campaign.status == "active"
    assert not PolicyEvaluation.objects.exists()


def test_a_billing_kill_switch_does_not_stop_ads_decisions(world, halt):
    api, ads = world
    halt("billing")
    assert api.propose("ads", "pause_campaign", f"campaign:{ads.campaign.pk}").json()["outcome"] == "executed"


def test_the_policy_engine_can_deny(world, policy):
    api, ads = world
    policy("ads", "pause_campaign", effect="deny", priority=10, name="no pausing on launch day")
    body = api.propose("ads", "pause_campaign", f"campaign:{ads.campaign.pk}").json()
    assert body["outcome"] == "rejected"
    assert body["reasons"][-1]["stage"] == "policy" and body["reasons"][-1]["code"] == "policy_denied"
    assert "no pausing on launch day v1" in body["reasons"][-1]["detail"]
    assert ads.refresh().campaign.status == "active"


def test_no_matching_policy_is_the_default_deny(tenant, make_agent, make_ads, proposer):
    ads = make_ads(tenant)
    api = proposer(tenant, make_agent(tenant, policies=ADS_POLICY, level=3))
    body = api.propose("ads", "pause_campaign", f"campaign:{ads.campaign.pk}").json()
    assert body["reasons"][-1] == {"stage": "policy", "code": "policy_denied",
                                   "detail": "No active policy matched; the default effect is deny."}


def test_an_amount_over_the_agents_max_is_rejected(world):
    api, ads = world
    body = api.propose("ads", "set_budget", f"budget:{ads.budget.pk}", {"amount_total": 50_001}).json()
    assert body["outcome"] == "rejected"
    assert body["reasons"][-1]["code"] == "amount_over_max"
    assert ads.refresh().budget.amount_total == 100_000


def test_the_daily_limit_is_counted_per_domain(tenant, make_agent, make_ads, policy, proposer):
    policy("ads", "*")
    ads = make_ads(tenant)
    api = proposer(tenant, make_agent(tenant, level=3, policies={
        "ads": {"allowed_actions": ["pause_campaign", "resume_campaign"], "daily_limit": 2}}))
    target = f"campaign:{ads.campaign.pk}"
    assert api.propose("ads", "pause_campaign", target).json()["outcome"] == "executed"
    assert api.propose("ads", "resume_campaign", target).json()["outcome"] == "executed"
    third = api.propose("ads", "pause_campaign", target).json()
    assert third["outcome"] == "rejected"
    assert third["reasons"][-1] == {"stage": "agent_policy", "code": "daily_limit_reached",
                                    "detail": "2 of 2 ads actions taken today"}
    assert ads.refresh().campaign.status == "active"
    stats = AgentDailyStats.objects.get(agent=api.agent)
    assert (stats.proposals_count, stats.actions_count, stats.rejected_count) == (3, 2, 1)


def test_a_risk_above_the_agents_max_is_rejected(world, tenant, make_agent, proposer):
    _api, ads = world
    api = proposer(tenant, make_agent(tenant, level=3, policies={
        "ads": {"allowed_actions": ["pause_campaign"], "max_risk_score": 0.01}}))
    body = api.propose("ads", "pause_campaign", f"campaign:{ads.campaign.pk}").json()
    assert body["outcome"] == "rejected"
    assert body["reasons"][-1]["stage"] == "risk" and body["reasons"][-1]["code"] == "risk_over_max"
    assert body["risk_score"] > 0.01
    assert ads.refresh().campaign.status == "active"


@pytest.mark.parametrize(("policies", "level", "code"), [
    ({}, 3, "no_agent_policy"),
    ({"ads": {"allowed_actions": ["resume_campaign"]}}, 3, "action_not_allowed"),
    ({"ads": {"allowed_actions": ["pause_campaign"]}}, 0, "autonomy_forbidden"),
    ({"ads": {"allowed_actions": ["pause_campaign"]}}, None, "autonomy_forbidden"),  # no profile: default level 0
])
def test_agent_policy_and_autonomy_refusals(world, tenant, make_agent, proposer, policies, level, code):
    _api, ads = world
    api = proposer(tenant, make_agent(tenant, policies=policies, level=level))
    body = api.propose("ads", "pause_campaign", f"campaign:{ads.campaign.pk}").json()
    assert body["outcome"] == "rejected" and body["reasons"][-1]["code"] == code
    assert ads.refresh().campaign.status == "active"


def test_a_suspended_agent_or_an_observer_cannot_decide(world, tenant, make_agent, proposer):
    from agents.services.agents import agent_update

    _api, ads = world
    suspended = make_agent(tenant, policies=ADS_POLICY)
    agent_update(agent_id=suspended.pk, status="suspended")
    observer = make_agent(tenant, type="observer", policies=ADS_POLICY)
    for agent, code in ((suspended, "agent_suspended"), (observer, "agent_cannot_propose")):
        body = proposer(tenant, agent).propose("ads", "pause_campaign", f"campaign:{ads.campaign.pk}").json()
        assert body["reasons"][-1] == {**body["reasons"][-1], "stage": "agent", "code": code}


def test_autonomy_profile_limits_apply(world, tenant, make_agent, proposer):
    _api, ads = world
    api = proposer(tenant, make_agent(tenant, policies=ADS_POLICY, level=3, max_amount_per_action=30_000,
                                      max_daily_actions=1))
    over = api.propose("ads", "set_budget", f"budget:{ads.budget.pk}", {"amount_total": 30_001}).json()
    assert over["reasons"][-1]["code"] == "autonomy_amount_limit"
    assert api.propose("ads", "pause_campaign", f"campaign:{ads.campaign.pk}").json()["outcome"] == "executed"
    second = api.propose("ads", "resume_campaign", f"campaign:{ads.campaign.pk}").json()
    assert second["reasons"][-1]["code"] == "autonomy_daily_limit"


def test_each_decision_is_audited_with_the_agent_as_actor(world, audit_log):
    api, ads = world
    body = api.propose("ads", "pause_campaign", f"campaign:{ads.campaign.pk}").json()
    proposed = audit_log.assert_recorded("AGENT_DECISION_PROPOSED", target_id=body["id"])
    assert (proposed.actor_type, proposed.actor_id, proposed.app_id) == ("agent", api.agent.pk, api.tenant.app.pk)
    assert proposed.after["outcome"] == "executed" and proposed.after["codes"][-1] == "executed"
    audit_log.assert_recorded("AGENT_DECISION_EXECUTED", target_id=body["id"], after={"result": "success"})
    paused = audit_log.assert_recorded("AD_CAMPAIGN_PAUSED", target_id=ads.campaign.pk)
    assert (paused.actor_type, paused.actor_id) == ("agent", api.agent.pk)


def test_a_decision_on_a_missing_campaign_is_404_and_records_nothing(world):
    api, _ads = world
    response = api.propose("ads", "pause_campaign", "campaign:00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404 and response.json()["error"]["code"] == "campaign_not_found"
    assert not AgentDecision.objects.exists()
