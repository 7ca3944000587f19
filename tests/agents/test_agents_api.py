"""Agents and their policies over the API (scope agents), with history and audit."""
from __future__ import annotations

import pytest

from agents.models import Agent, AgentPolicy
from tests.agents.conftest import error_code

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def test_create_list_and_read_agents(tenant, audit_log):
    client = tenant.client()
    response = client.post("/api/v1/agents", {"name": "budget-bot", "type": "operator", "app_id": str(tenant.app.pk)},
                           format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["name"], body["type"], body["status"], body["app_id"]) == ("budget-bot", "operator", "active",
                                                                            str(tenant.app.pk))
    assert body["autonomy"] == {"level": 0, "source": "default", "action_overrides": {}, "max_daily_actions": None,
                                "max_amount_per_action": None}
    client.post("/api/v1/agents", {"name": "watcher", "type": "observer"}, format="json")
    listed = client.get("/api/v1/agents").json()
    assert [a["name"] for a in listed["results"]] == ["budget-bot", "watcher"]
    assert client.get("/api/v1/agents", {"type": "observer"}).json()["count"] == 1
    assert client.get(f"/api/v1/agents/{body['id']}").json()["id"] == body["id"]
    audit_log.assert_recorded("AGENT_CREATED", target_id=body["id"])


def test_names_are_unique_per_tenant_and_bad_input_is_400(tenant, make_tenant):
    client = tenant.client()
    assert client.post("/api/v1/agents", {"name": "bot", "type": "operator"}, format="json").status_code == 201
    again = client.post("/api/v1/agents", {"name": "bot", "type": "executor"}, format="json")
    assert again.status_code == 409 and error_code(again) == "agent_name_taken"
    assert make_tenant().client().post("/api/v1/agents", {"name": "bot", "type": "operator"},
                                       format="json").status_code == 201
    bad = client.post("/api/v1/agents", {"name": "", "type": "wizard"}, format="json")
    assert bad.status_code == 400 and {"name", "type"} <= set(bad.json()["error"]["fields"])
    foreign_app = make_tenant().app
    response = client.post("/api/v1/agents", {"name": "x", "type": "operator", "app_id": str(foreign_app.pk)},
                           format="json")
    assert response.status_code == 404 and error_code(response) == "app_not_found"


def test_suspend_and_reactivate_with_history(tenant, make_agent):
    agent = make_agent(tenant)
    client = tenant.client()
    response = client.patch(f"/api/v1/agents/{agent.pk}", {"status": "suspended", "reason": "misbehaving"},
                            format="json")
    assert response.status_code == 200 and response.json()["status"] == "suspended"
    assert list(Agent.history.filter(id=agent.pk).order_by("history_date").values_list("status", flat=True)) == [
        "active", "suspended"]
    assert Agent.history.filter(id=agent.pk).latest("history_date").history_change_reason == "misbehaving"


def test_policies_are_put_read_and_deleted(tenant, make_agent):
    agent = make_agent(tenant, level=None)
    client = tenant.client()
    url = f"/api/v1/agents/{agent.pk}/policies/ads"
    body = {"allowed_actions": ["pause_campaign", "set_budget"], "max_amount": 100_000, "requires_approval": False,
            "max_risk_score": 0.7, "daily_limit": 20}
    created = client.put(url, body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["allowed_actions"] == ["pause_campaign", "set_budget"]
    replaced = client.put(url, {**body, "daily_limit": 5}, format="json")
    assert replaced.status_code == 200 and replaced.json()["daily_limit"] == 5
    assert client.get(url).json()["max_risk_score"] == 0.7
    assert [p["domain"] for p in client.get(f"/api/v1/agents/{agent.pk}/policies").json()["results"]] == ["ads"]
    assert AgentPolicy.history.filter(agent_id=agent.pk).count() == 2
    # A domain PostgreSQL text cannot hold is no domain: 404 in the error shape, not a driver error.
    nul = client.get(f"/api/v1/agents/{agent.pk}/policies/a%00b")
    assert nul.status_code == 404 and nul.json()["error"]["code"] == "not_found"
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404
    assert client.delete(url).status_code == 404


@pytest.mark.parametrize(("domain", "body", "field"), [
    ("ads", {"allowed_actions": ["payout"]}, "allowed_actions"),
    ("crypto", {"allowed_actions": []}, "domain"),
    ("ads", {"allowed_actions": ["pause_campaign"], "max_amount": "100"}, "max_amount"),
    ("ads", {"allowed_actions": ["pause_campaign"], "max_amount": -1}, "max_amount"),
    ("ads", {"allowed_actions": ["pause_campaign"], "max_risk_score": 1.2}, "max_risk_score"),
    ("ads", {"allowed_actions": ["pause_campaign"], "daily_limit": 2.5}, "daily_limit"),
])
def test_invalid_policies_are_400(tenant, make_agent, domain, body, field):
    agent = make_agent(tenant, level=None)
    response = tenant.client().put(f"/api/v1/agents/{agent.pk}/policies/{domain}", body, format="json")
    assert response.status_code == 400 and field in response.json()["error"]["fields"], response.json()
    assert not AgentPolicy.objects.exists()


def test_another_tenants_agent_is_404_everywhere(tenant, make_agent, make_tenant):
    agent = make_agent(tenant)
    other = make_tenant().client()
    for method, path in [("get", ""), ("patch", ""), ("get", "/policies"), ("put", "/policies/ads"),
                         ("get", "/decisions")]:
        body = {"allowed_actions": []} if path.startswith("/policies") else {"status": "suspended"}
        response = getattr(other, method)(f"/api/v1/agents/{agent.pk}{path}", body, format="json")
        assert response.status_code == 404, (method, path, response.json())
    agent.refresh_from_db()
    assert agent.status == "active" and not AgentPolicy.objects.filter(agent=agent).exists()
