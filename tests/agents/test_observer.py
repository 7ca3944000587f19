"""Observer suggestions (scope observer) and people's decisions on them (user session)."""
from __future__ import annotations

import hashlib

import pytest
import rfc8785
from django.db import IntegrityError, connection, transaction

from agents.models import AgentMemory, HumanDecision
from tests.agents.conftest import error_code

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]

URL = "/api/v1/observer/suggestions"
SNAPSHOT = {"campaigns": [{"id": "c-1", "ctr": 0.004, "spend": 12_000}], "window": "24h", "note": "São Paulo"}


@pytest.fixture
def observer(tenant, make_agent):
    return make_agent(tenant, type="observer", level=None, name="observer_v1")


def _suggest(tenant, observer, **changes):
    body = {"agent_id": str(observer.pk), "confidence": 0.82, "finding": "CTR fell 60% in 24 h on c-1",
            "suggestion": "Pause campaign c-1 and review the creative", "snapshot": SNAPSHOT, **changes}
    return tenant.client().post(URL, body, format="json")


def _canonical_hash(snapshot) -> str:
    return hashlib.sha256(rfc8785.dumps(snapshot)).hexdigest()


def test_a_suggestion_is_stored_with_the_hash_of_its_canonical_snapshot(tenant, observer):
    response = _suggest(tenant, observer)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["snapshot_hash"] == _canonical_hash(SNAPSHOT)
    assert body["agent"] == "observer_v1" and body["status"] == "pending" and body["decisions"] == []
    memory = AgentMemory.objects.get(pk=body["id"])
    assert hashlib.sha256(memory.snapshot.encode()).hexdigest() == memory.snapshot_hash
    assert memory.snapshot_data == SNAPSHOT and memory.tenant_id == tenant.id
    # The same snapshot with its keys in another order hashes the same.
    reordered = _suggest(tenant, observer, snapshot=dict(reversed(list(SNAPSHOT.items())))).json()
    assert reordered["snapshot_hash"] == body["snapshot_hash"]


@pytest.mark.parametrize(("changes", "field"), [
    ({"confidence": 1.5}, "confidence"), ({"confidence": "high"}, "confidence"), ({"confidence": True}, "confidence"),
    ({"finding": ""}, "finding"), ({"snapshot": [1, 2]}, "snapshot"), ({"agent_id": "nope"}, "agent_id"),
])
def test_invalid_suggestions_are_400(tenant, observer, changes, field):
    response = _suggest(tenant, observer, **changes)
    assert response.status_code == 400 and field in response.json()["error"]["fields"], response.json()
    assert not AgentMemory.objects.exists()


def test_only_an_active_observer_of_the_tenant_suggests(tenant, observer, make_agent, make_tenant, halt):
    from agents.services.agents import agent_update

    operator = make_agent(tenant, type="operator")
    response = _suggest(tenant, operator)
    assert response.status_code == 400 and error_code(response) == "agent_not_observer"
    other = make_tenant()
    response = _suggest(other, observer)
    assert response.status_code == 404 and error_code(response) == "agent_not_found"
    agent_update(agent_id=observer.pk, status="suspended")
    assert error_code(_suggest(tenant, observer)) == "agent_suspended"
    agent_update(agent_id=observer.pk, status="active")
    halt("agents")
    response = _suggest(tenant, observer)
    assert response.status_code == 423 and error_code(response) == "kill_switch_active"
    assert not AgentMemory.objects.exists()


def test_the_observer_scope_is_required(make_tenant, observer, tenant):
    no_observer = make_tenant(scopes=("agents",))
    assert no_observer.client().get(URL).status_code == 403


def test_the_tenant_owner_decides_over_the_api_with_ip_and_user_agent(tenant, observer, signed_in):
    suggestion = _suggest(tenant, observer).json()
    client = signed_in(tenant.owner, user_agent="Mozilla/5.0 console")
    url = f"{URL}/{suggestion['id']}/decisions"
    response = client.post(url, {"decision": "accepted", "reason": "Creative was broken"}, format="json",
                           REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 201, response.json()
    row = HumanDecision.objects.get(pk=response.json()["id"])
    assert (row.decision, row.reason, row.ip, row.user_agent, row.channel) == (
        "accepted", "Creative was broken", "203.0.113.9", "Mozilla/5.0 console", "api")
    assert row.decided_by == tenant.owner and row.human == tenant.owner.username
    again = client.post(url, {"decision": "ignored", "reason": "changed my mind"}, format="json")
    assert again.status_code == 409 and error_code(again) == "suggestion_already_decided"
    got = tenant.client().get(f"{URL}/{suggestion['id']}").json()
    assert got["status"] == "accepted" and [d["decision"] for d in got["decisions"]] == ["accepted"]


def test_a_deferred_suggestion_can_be_decided_again(tenant, observer, signed_in):
    suggestion = _suggest(tenant, observer).json()
    client = signed_in(tenant.owner)
    url = f"{URL}/{suggestion['id']}/decisions"
    assert client.post(url, {"decision": "deferred", "reason": "after the launch"}, format="json").status_code == 201
    assert client.post(url, {"decision": "deferred", "reason": "one more week"}, format="json").status_code == 201
    assert client.post(url, {"decision": "ignored", "reason": "seasonal dip"}, format="json").status_code == 201
    final = client.post(url, {"decision": "accepted", "reason": "on second thought"}, format="json")
    assert final.status_code == 409 and error_code(final) == "suggestion_already_decided"
    assert list(HumanDecision.objects.filter(suggestion_id=suggestion["id"]).order_by("created_at")
                .values_list("decision", flat=True)) == ["deferred", "deferred", "ignored"]


@pytest.mark.parametrize(("body", "field"), [
    ({"decision": "accepted", "reason": "ok"}, "reason"),
    ({"decision": "accepted", "reason": "   ab  "}, "reason"),
    ({"decision": "maybe", "reason": "because"}, "decision"),
])
def test_a_decision_needs_a_known_value_and_a_reason_of_three_characters(tenant, observer, signed_in, body, field):
    suggestion = _suggest(tenant, observer).json()
    response = signed_in(tenant.owner).post(f"{URL}/{suggestion['id']}/decisions", body, format="json")
    assert response.status_code == 400 and field in response.json()["error"]["fields"]
    assert not HumanDecision.objects.exists()


def test_other_people_see_nothing_unless_their_authority_covers_agents(tenant, observer, signed_in, make_tenant,
                                                                       approver):
    suggestion = _suggest(tenant, observer).json()
    url = f"{URL}/{suggestion['id']}/decisions"
    stranger = make_tenant().owner
    response = signed_in(stranger).post(url, {"decision": "accepted", "reason": "looks right"}, format="json")
    assert response.status_code == 404 and error_code(response) == "suggestion_not_found"
    assert signed_in(stranger).get("/api/v1/observer/inbox").json()["count"] == 0
    # ``approver`` holds ads and billing only.
    assert signed_in(approver).post(url, {"decision": "accepted", "reason": "x" * 5}, format="json").status_code == 404
    from governance.services.authorities import authority_grant
    from identity.models import User

    boss = User.objects.create_user("observer-boss", role=User.Role.SUPER_ADMIN)
    lead = User.objects.create_user("observer-lead")
    authority_grant(user=lead, role="tech_lead", scopes=["agents"], max_impact="low", granted_by=boss)
    inbox = signed_in(lead).get("/api/v1/observer/inbox", {"status": "pending"}).json()
    assert [s["id"] for s in inbox["results"]] == [suggestion["id"]]
    assert signed_in(lead).post(url, {"decision": "ignored", "reason": "known issue"}, format="json").status_code == 201


def test_applications_cannot_decide_suggestions(tenant, observer):
    suggestion = _suggest(tenant, observer).json()
    response = tenant.client().post(f"{URL}/{suggestion['id']}/decisions", {"decision": "accepted",
                                                                           "reason": "auto"}, format="json")
    assert response.status_code == 403 and error_code(response) == "signed_in_user_required"


def test_suggestions_list_filters_by_status(tenant, observer, signed_in):
    first = _suggest(tenant, observer).json()
    _suggest(tenant, observer, finding="Spend spike on c-2")
    signed_in(tenant.owner).post(f"{URL}/{first['id']}/decisions", {"decision": "ignored", "reason": "known"},
                                 format="json")
    client = tenant.client()
    assert client.get(URL).json()["count"] == 2
    pending = client.get(URL, {"status": "pending"}).json()
    assert [s["finding"] for s in pending["results"]] == ["Spend spike on c-2"]
    assert client.get(URL, {"status": "ignored"}).json()["count"] == 1
    assert client.get(URL, {"status": "nope"}).status_code == 400


def test_the_database_refuses_to_change_suggestions_and_decisions(tenant, observer, signed_in):
    suggestion = _suggest(tenant, observer).json()
    signed_in(tenant.owner).post(f"{URL}/{suggestion['id']}/decisions", {"decision": "accepted", "reason": "fine"},
                                 format="json")
    for table, column, value in (("agent_memory", "finding", "'rewritten'"),
                                 ("human_decisions", "decision", "'ignored'")):
        for statement in (f"UPDATE {table} SET {column} = {value}", f"DELETE FROM {table}"):
            with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(statement)
