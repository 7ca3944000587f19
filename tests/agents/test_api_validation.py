"""Bad input, other tenants' ids and missing scopes: clear 4xx answers in the one error shape, nothing recorded."""
from __future__ import annotations

import pytest

from agents.models import AgentDecision
from governance.models import PolicyEvaluation
from tests.agents.conftest import error_code

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]
UNKNOWN = "8c0f3c60-58a4-4d9c-9b43-52d7d1a1e7b0"


@pytest.fixture
def world(tenant, make_agent, make_ads, make_billing_account, policy, proposer):
    policy()
    ads = make_ads(tenant)
    account = make_billing_account(tenant, balance=10_000)
    agent = make_agent(tenant, level=3, policies={
        "ads": {"allowed_actions": ["pause_campaign", "set_budget", "record_spend"]},
        "billing": {"allowed_actions": ["credit", "refund", "payout"]}})
    return proposer(tenant, agent), ads, account


def _nothing_recorded():
    assert not AgentDecision.objects.exists()
    assert not PolicyEvaluation.objects.exists()


@pytest.mark.parametrize(("body", "code", "field"), [
    ({"domain": "crypto", "action": "buy", "target_entity": "coin:1"}, "unknown_action", "domain"),
    ({"domain": "ads", "action": "delete_campaign", "target_entity": "campaign:1"}, "unknown_action", "action"),
    ({"domain": "ads", "action": "pause_campaign", "target_entity": "campaign"}, "invalid_target", "target_entity"),
    ({"domain": "ads", "action": "pause_campaign", "target_entity": f"budget:{UNKNOWN}"},
     "invalid_target", "target_entity"),
    ({"domain": "ads", "action": "pause_campaign", "target_entity": "campaign:not-a-uuid"}, "invalid_target",
     "target_entity"),
    ({"domain": "ads", "action": "pause_campaign"}, "validation_error", "target_entity"),
    ({"domain": "ads", "action": "pause_campaign", "target_entity": f"campaign:{UNKNOWN}", "payload": [1]},
     "validation_error", "payload"),
    ({"domain": "ads", "action": "pause_campaign", "target_entity": f"campaign:{UNKNOWN}", "expires_in": 5},
     "validation_error", "expires_in"),
])
def test_malformed_proposals_are_400(world, body, code, field):
    api, _ads, _account = world
    response = api.client.post(api.url(), body, format="json")
    assert response.status_code == 400, response.json()
    assert error_code(response) == code
    assert field in response.json()["error"]["fields"]
    _nothing_recorded()


def test_payload_errors_name_the_payload_field(world):
    api, ads, _account = world
    target = f"budget:{ads.budget.pk}"
    cases = [({}, "payload.amount_total"), ({"amount_total": "100"}, "payload.amount_total"),
             ({"amount_total": 0}, "payload.amount_total"), ({"amount_total": 10, "colour": "red"}, "payload.colour")]
    for payload, field in cases:
        response = api.propose("ads", "set_budget", target, payload)
        assert response.status_code == 400, (payload, response.json())
        assert field in response.json()["error"]["fields"], (payload, response.json())
    spend = api.propose("ads", "record_spend", f"campaign:{ads.campaign.pk}",
                        {"amount": 10, "quantity": 1, "unit": "minute"}, key="k1")
    assert spend.status_code == 400 and "payload.unit" in spend.json()["error"]["fields"]
    _nothing_recorded()


def test_a_bad_payout_destination_is_400(world):
    api, _ads, account = world
    response = api.propose("billing", "payout", f"account:{account.pk}",
                           {"amount": 100, "destination": {"type": "pix", "key": "not-a-key"}}, key="p1")
    assert response.status_code == 400
    assert error_code(response) == "invalid_destination"
    assert any(f.startswith("payload.destination") for f in response.json()["error"]["fields"])


def test_actions_that_move_money_need_an_idempotency_key(world):
    api, ads, account = world
    for domain, action, target, payload in [
        ("ads", "record_spend", f"campaign:{ads.campaign.pk}", {"amount": 10, "quantity": 1, "unit": "click"}),
        ("billing", "credit", f"account:{account.pk}", {"amount": 10}),
    ]:
        response = api.propose(domain, action, target, payload)
        assert response.status_code == 400 and error_code(response) == "idempotency_key_required"
    _nothing_recorded()
    assert api.propose("ads", "pause_campaign", f"campaign:{ads.campaign.pk}").status_code == 201


def test_another_tenants_agent_and_targets_are_404(world, make_tenant, make_agent, make_ads, proposer):
    api, ads, _account = world
    other = make_tenant()
    other_ads = make_ads(other)
    other_agent = make_agent(other, policies={"ads": {"allowed_actions": ["pause_campaign"]}})
    # Our client, their agent.
    response = api.client.post(f"/api/v1/agents/{other_agent.pk}/decisions",
                               {"domain": "ads", "action": "pause_campaign",
                                "target_entity": f"campaign:{ads.campaign.pk}"}, format="json")
    assert response.status_code == 404 and error_code(response) == "agent_not_found"
    # Our agent, their campaign.
    response = api.propose("ads", "pause_campaign", f"campaign:{other_ads.campaign.pk}")
    assert response.status_code == 404 and error_code(response) == "campaign_not_found"
    other_account = other_ads.account.balance_account
    response = api.propose("billing", "credit", f"account:{other_account.pk}", {"amount": 5}, key="c")
    assert response.status_code == 404 and error_code(response) == "account_not_found"
    _nothing_recorded()
    assert other_ads.refresh().campaign.status == "active"


def test_decisions_are_read_only_within_the_tenant(world, make_tenant, proposer):
    api, ads, _account = world
    body = api.propose("ads", "pause_campaign", f"campaign:{ads.campaign.pk}").json()
    other = make_tenant()
    assert other.client().get(api.url(body["id"])).status_code == 404
    assert other.client().get(api.url()).status_code == 404
    assert api.get(body["id"]).status_code == 200


def test_scopes_are_required(world, make_tenant):
    api, _ads, _account = world
    no_agents = make_tenant(scopes=("ads", "observer"))
    response = no_agents.client().get(api.url())
    assert response.status_code == 403 and error_code(response) == "scope_required"
    assert api.client.__class__().get(api.url()).status_code == 401


def test_idempotent_replay_of_a_spend_decision(world):
    api, ads, _account = world
    payload = {"amount": 1_500, "quantity": 30, "unit": "click"}
    first = api.propose("ads", "record_spend", f"campaign:{ads.campaign.pk}", payload, key="spend-42")
    again = api.propose("ads", "record_spend", f"campaign:{ads.campaign.pk}", payload, key="spend-42")
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert first.json() == again.json() and first.json()["outcome"] == "executed"
    assert AgentDecision.objects.count() == 1
    ads.refresh()
    assert ads.budget.amount_spent == 1_500 and ads.campaign.total_spent == 1_500
    different = api.propose("ads", "record_spend", f"campaign:{ads.campaign.pk}", {**payload, "amount": 2},
                            key="spend-42")
    assert different.status_code == 409 and error_code(different) == "idempotency_mismatch"


def test_lists_are_paginated_and_filtered(world):
    api, ads, _account = world
    target = f"campaign:{ads.campaign.pk}"
    api.propose("ads", "pause_campaign", target)
    api.propose("ads", "pause_campaign", target)  # already paused: still executed (nothing to change)
    api.propose("ads", "set_budget", f"budget:{ads.budget.pk}", {"amount_total": 10**11})
    page = api.client.get(api.url(), {"page_size": 2}).json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    executed = api.client.get(api.url(), {"outcome": "executed"}).json()
    assert executed["count"] == 3
    assert api.client.get(api.url(), {"domain": "ads"}).json()["count"] == 3
    assert api.client.get(api.url(), {"domain": "billing"}).json()["count"] == 0
    bad = api.client.get(api.url(), {"outcome": "maybe"})
    assert bad.status_code == 400 and "outcome" in bad.json()["error"]["fields"]
