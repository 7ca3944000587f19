"""The agents console: every page renders, changes go through the services, append-only rows stay read-only,
suggestions are decided with the form."""
from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.urls import reverse

from agents.models import Agent, AgentDecision, AgentExecutionLog, AgentMemory, AgentPolicy, HumanDecision, RiskScore
from agents.services.observer import suggestion_record

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


@pytest.fixture
def admin_client(client):
    from identity.models import User

    admin = User.objects.create_superuser(username="agents-console-admin", password="x-long-password-1")
    client.force_login(admin)
    client.admin = admin
    return client


def url(model, view="changelist", *args):
    return reverse(f"admin:agents_{model}_{view}", args=args)


@pytest.fixture
def world(tenant, make_agent, make_ads, policy, proposer):
    policy("ads", "*")
    policy("ads", "set_budget", effect="require_approval", priority=5)
    ads = make_ads(tenant)
    agent = make_agent(tenant, level=3, policies={"ads": {"allowed_actions": ["pause_campaign", "set_budget"]}})
    api = proposer(tenant, agent)
    executed = api.propose("ads", "pause_campaign", f"campaign:{ads.campaign.pk}").json()
    pending = api.propose("ads", "set_budget", f"budget:{ads.budget.pk}", {"amount_total": 90_000}).json()
    shadow_agent = make_agent(tenant, level=1, policies={"ads": {"allowed_actions": ["pause_campaign"]}})
    shadowed = proposer(tenant, shadow_agent).propose("ads", "pause_campaign", f"campaign:{ads.campaign.pk}").json()
    observer = make_agent(tenant, type="observer", level=None, name="observer_v1")
    suggestion = suggestion_record(agent_id=observer.pk, tenant_id=tenant.id, confidence=0.9, finding="CTR fell",
                                   suggestion="Pause it", snapshot={"ctr": 0.001})
    return {"agent": agent, "executed": executed, "pending": pending, "shadowed": shadowed,
            "suggestion": suggestion}


def test_every_agents_page_renders(admin_client, world):
    from agents.services.risk import risk_scores_recompute

    risk_scores_recompute()
    for model in ("agent", "agentpolicy", "agentdecision", "shadowdecision", "agentexecutionlog", "agentdailystats",
                  "agentmemory", "humandecision", "riskscore", "riskhistory", "riskconfig"):
        assert admin_client.get(url(model)).status_code == 200, model
    assert admin_client.get(url("agent", "change", world["agent"].pk)).status_code == 200
    assert admin_client.get(url("agent", "history", world["agent"].pk)).status_code == 200
    policy = AgentPolicy.objects.get(agent=world["agent"])
    assert admin_client.get(url("agentpolicy", "history", policy.pk)).status_code == 200
    assert admin_client.post(url("agentpolicy", "change", policy.pk), {"daily_limit": 1}).status_code == 403
    assert admin_client.get(url("riskscore", "change", RiskScore.objects.filter(agent__isnull=True).get().pk)
                            ).status_code == 200
    shadows = admin_client.get(url("shadowdecision")).context["cl"].result_list
    assert [str(d.pk) for d in shadows] == [world["shadowed"]["id"]]


def test_the_agent_page_shows_policies_autonomy_and_todays_counters(admin_client, world):
    page = admin_client.get(url("agent", "change", world["agent"].pk)).content.decode()
    assert "pause_campaign" in page and "set_budget" in page  # the policy inline
    assert "base level 3" in page
    assert "2 proposals, 2 actions, 1 approved, 1 executed, 0 shadowed, 0 rejected" in page


def test_the_decision_page_shows_reasons_risk_factors_and_the_timeline(admin_client, world):
    decision = AgentDecision.objects.get(pk=world["pending"]["id"])
    page = admin_client.get(url("agentdecision", "change", decision.pk)).content.decode()
    for text in ("policy_requires_approval", "approval_required", "amount_vs_limit", "approval requested",
                 "policy engine: pending_approval", decision.approval_request_id.hex[:8]):
        assert text in page.replace("-", ""), text


def test_an_agent_and_its_policies_are_created_and_changed_through_the_services(admin_client, tenant, audit_log):
    data = {"tenant": tenant.owner.pk, "app": "", "name": "console-bot", "type": "executor", "status": "active",
            "policies-TOTAL_FORMS": "1", "policies-INITIAL_FORMS": "0", "policies-MIN_NUM_FORMS": "0",
            "policies-MAX_NUM_FORMS": "1000", "policies-0-domain": "billing",
            "policies-0-allowed_actions": '["credit"]', "policies-0-max_amount": "5000",
            "policies-0-requires_approval": "on", "policies-0-max_risk_score": "", "policies-0-daily_limit": "3"}
    response = admin_client.post(url("agent", "add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    agent = Agent.objects.get(name="console-bot")
    policy = AgentPolicy.objects.get(agent=agent)
    assert (policy.domain, policy.allowed_actions, policy.max_amount, policy.requires_approval,
            policy.daily_limit) == ("billing", ["credit"], 5000, True, 3)
    audit_log.assert_recorded("AGENT_CREATED", target_id=agent.pk, actor_id=admin_client.admin.pk)
    audit_log.assert_recorded("AGENT_POLICY_SET", target_id=policy.pk)
    assert AgentPolicy.history.get(id=policy.pk).history_user == admin_client.admin


def test_an_invalid_policy_is_shown_on_the_form(admin_client, tenant):
    data = {"tenant": tenant.owner.pk, "app": "", "name": "bad-bot", "type": "operator", "status": "active",
            "policies-TOTAL_FORMS": "1", "policies-INITIAL_FORMS": "0", "policies-MIN_NUM_FORMS": "0",
            "policies-MAX_NUM_FORMS": "1000", "policies-0-domain": "ads",
            "policies-0-allowed_actions": '["payout"]', "policies-0-max_amount": "",
            "policies-0-max_risk_score": "", "policies-0-daily_limit": ""}
    response = admin_client.post(url("agent", "add"), data)
    assert response.status_code == 200 and "Unknown in ads: payout" in response.content.decode()
    assert not Agent.objects.filter(name="bad-bot").exists()


def test_suspending_from_the_console_needs_a_reason(admin_client, world):
    agent = world["agent"]
    form = {"action": "suspend", ACTION_CHECKBOX_NAME: [str(agent.pk)]}
    assert "reason" in admin_client.post(url("agent"), form).content.decode()
    admin_client.post(url("agent"), {**form, "apply": "1", "reason": "runaway spending"})
    agent.refresh_from_db()
    assert agent.status == "suspended"
    assert Agent.history.filter(id=agent.pk).latest("history_date").history_change_reason == "runaway spending"


def test_append_only_and_evidence_rows_are_read_only(admin_client, world):
    log = AgentExecutionLog.objects.get()
    assert admin_client.get(url("agentexecutionlog", "add")).status_code == 403
    assert admin_client.post(url("agentexecutionlog", "delete", log.pk), {"post": "yes"}).status_code == 403
    assert admin_client.get(url("agentmemory", "add")).status_code == 403
    assert admin_client.get(url("agentdecision", "add")).status_code == 403
    decision = AgentDecision.objects.get(pk=world["executed"]["id"])
    assert admin_client.post(url("agentdecision", "change", decision.pk), {"status": "rejected"}).status_code == 403
    decision.refresh_from_db()
    assert decision.status == "executed"


def test_a_suggestion_is_decided_with_the_console_form(admin_client, world):
    suggestion = world["suggestion"]
    page = admin_client.get(url("agentmemory", "change", suggestion.pk)).content.decode()
    assert 'id="suggestion-decide"' in page and 'value="accepted"' in page
    decide = url("agentmemory", "decide", suggestion.pk)
    admin_client.post(decide, {"decision": "accepted", "reason": "ok"}, HTTP_USER_AGENT="Firefox")  # too short
    assert not HumanDecision.objects.exists()
    admin_client.post(decide, {"decision": "accepted", "reason": "Confirmed with the team"},
                      HTTP_USER_AGENT="Firefox", REMOTE_ADDR="198.51.100.7")
    row = HumanDecision.objects.get()
    assert (row.decision, row.channel, row.ip, row.user_agent, row.decided_by) == (
        "accepted", "console", "198.51.100.7", "Firefox", admin_client.admin)
    page = admin_client.get(url("agentmemory", "change", suggestion.pk)).content.decode()
    assert 'value="accepted"' not in page and "This suggestion was accepted." in page
    listed = admin_client.get(url("agentmemory"), {"status": "accepted"})
    assert listed.context["cl"].result_count == 1


def test_deciding_needs_the_permission(client, world):
    from identity.models import User

    staff = User.objects.create_user("viewer", password="x-long-password-1", role=User.Role.ADMIN)
    staff.user_permissions.add(Permission.objects.get(codename="view_agentmemory"))
    client.force_login(staff)
    suggestion = world["suggestion"]
    page = client.get(url("agentmemory", "change", suggestion.pk)).content.decode()
    assert 'value="accepted"' not in page
    response = client.post(url("agentmemory", "decide", suggestion.pk), {"decision": "ignored", "reason": "nope!"})
    assert response.status_code == 403
    assert not HumanDecision.objects.exists()
    staff.user_permissions.add(Permission.objects.get(codename="decide_suggestion"))
    staff = User.objects.get(pk=staff.pk)
    client.force_login(staff)
    client.post(url("agentmemory", "decide", suggestion.pk), {"decision": "ignored", "reason": "known issue"})
    assert HumanDecision.objects.get().decision == "ignored"
    assert AgentMemory.objects.count() == 1


def test_risk_scores_are_recomputed_from_the_console_and_configs_saved_through_the_service(
        admin_client, world, tenant, audit_log):
    response = admin_client.post(url("riskscore", "recompute"))
    assert response.status_code == 302
    assert RiskScore.objects.filter(app=tenant.app).count() == 3  # the app and its two deciding agents
    page = admin_client.get(url("riskscore")).content.decode()
    assert "Recompute now" in page
    bad = admin_client.post(url("riskconfig", "add"), {"app": tenant.app.pk, "custom_weights": '{"mood": 1}',
                                                       "thresholds": "{}"})
    assert bad.status_code == 200 and "Unknown factor" in bad.content.decode()
    good = admin_client.post(url("riskconfig", "add"), {"app": tenant.app.pk, "custom_weights": '{"velocity": 2}',
                                                        "thresholds": '{"high": 0.5}'})
    assert good.status_code == 302
    audit_log.assert_recorded("RISK_CONFIG_SET", app_id=tenant.app.pk)
