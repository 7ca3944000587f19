"""Concurrent proposals on real PostgreSQL connections: the daily limit is never passed."""
from __future__ import annotations

import threading

import pytest
from django.db import connections

from agents.models import AgentDailyStats, AgentDecision, AgentExecutionLog
from tests.agents.conftest import allow_policy_now, make_ads_now, make_agent_now, make_customer_now, make_tenant_now

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PROPOSALS = 50
LIMIT = 10


def test_fifty_concurrent_proposals_against_a_daily_limit_of_ten_count_exactly_ten():
    allow_policy_now("ads", "*")
    tenant = make_tenant_now()
    ads = make_ads_now(tenant)
    agent = make_agent_now(tenant, level=3, policies={"ads": {"allowed_actions": ["pause_campaign"],
                                                              "daily_limit": LIMIT}})
    url = f"/api/v1/agents/{agent.pk}/decisions"
    body = {"domain": "ads", "action": "pause_campaign", "target_entity": f"campaign:{ads.campaign.pk}"}
    barrier = threading.Barrier(PROPOSALS)
    results: list[tuple[int, str]] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def propose() -> None:
        try:
            client = tenant.client()
            barrier.wait(timeout=30)
            response = client.post(url, body, format="json")
            with lock:
                results.append((response.status_code, response.json().get("outcome")))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=propose) for _ in range(PROPOSALS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert sorted(results) == sorted([(201, "executed")] * LIMIT + [(201, "rejected")] * (PROPOSALS - LIMIT))
    stats = AgentDailyStats.objects.get(agent=agent)
    assert (stats.proposals_count, stats.actions_count, stats.executed_count, stats.rejected_count) == (
        PROPOSALS, LIMIT, LIMIT, PROPOSALS - LIMIT)
    assert AgentDecision.objects.filter(agent=agent, counted=True).count() == LIMIT
    assert AgentExecutionLog.objects.filter(agent=agent).count() == LIMIT
    rejected = AgentDecision.objects.filter(agent=agent, outcome="rejected")
    assert {d.reasons[-1]["code"] for d in rejected} == {"daily_limit_reached"}


def test_one_callback_delivered_by_two_workers_at_once_executes_once():
    """Two deliveries of the approved callback race on separate connections; one executes, one finds it done."""
    from agents.services.decisions import decision_approval_approved
    from billing.services.accounts import account_open
    from governance.models import ApprovalRequest
    from governance.services.approvals import approval_decide
    from governance.services.authorities import authority_grant
    from identity.models import User

    allow_policy_now("billing", "credit")
    tenant = make_tenant_now()
    account, _ = account_open(user=make_customer_now(tenant))
    agent = make_agent_now(tenant, level=3, policies={"billing": {"allowed_actions": ["credit"],
                                                                  "requires_approval": True}})
    client = tenant.client()
    body = client.post(f"/api/v1/agents/{agent.pk}/decisions",
                       {"domain": "billing", "action": "credit", "target_entity": f"account:{account.pk}",
                        "payload": {"amount": 700}}, format="json", HTTP_IDEMPOTENCY_KEY="race-1").json()
    assert body["outcome"] == "pending_approval"
    boss = User.objects.create_user("race-boss", role=User.Role.SUPER_ADMIN)
    person = User.objects.create_user("race-approver")
    authority_grant(user=person, role="finance_officer", scopes=["billing"], max_impact="high", granted_by=boss)
    approval_decide(request_id=body["approval_request_id"], user=person, decision="approved",
                    justification="A goodwill credit we promised.")
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def deliver() -> None:
        try:
            request = ApprovalRequest.objects.get(pk=body["approval_request_id"])
            barrier.wait(timeout=30)
            decision_approval_approved(request)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    account.refresh_from_db()
    assert account.balance == 700
    assert AgentExecutionLog.objects.filter(decision_id=body["id"]).count() == 1
    assert AgentDecision.objects.get(pk=body["id"]).status == "executed"
