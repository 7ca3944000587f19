"""Institutional memory over the API (reads, with a user session): a request's precedents and conflicts, the
reviews I can decide, a decision's memory; other people's reach answers 404."""
import pytest

from identity.services.sessions import session_open
from memory.services import precedent_record, review_decide, review_open
from tests.clients import APIClient

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]
WHY = "Worked as intended, says the reviewer."


def _client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {session_open(user=user).token}")
    return client


@pytest.fixture
def people(make_user, grant):
    test_person, billing_person = make_user(), make_user()
    grant(test_person, scopes=["test"], max_impact="critical")
    grant(billing_person, scopes=["billing"], max_impact="critical")
    return test_person, billing_person


def test_a_requests_memory_lists_precedents_and_conflicts(people, open_lifecycle, request_factory, test_domain):
    person, outsider = people
    lifecycle = open_lifecycle(domain="test", action="payout", amount=400_000)
    review = review_open(decision_id=lifecycle.decision_id, review_type="periodic", reason="due")
    review_decide(review_id=review.pk, user=person, outcome="renewed", justification=WHY)
    precedent_record(decision_id=lifecycle.decision_id, created_by=person, observed_result={"chargeback": False})
    open_lifecycle(domain="test", action="pause", direction="pause", target_type="ad_campaign", target_id="c-3")
    open_lifecycle(domain="test", action="resume", direction="resume", target_type="ad_campaign", target_id="c-3")
    request = request_factory(amount=500_000, target_type="ad_campaign", target_id="c-3")
    body = _client(person).get(f"/api/v1/governance/approvals/{request.pk}/memory").json()
    assert [(p["decision_id"], p["result"]) for p in body["precedents"]] == [
        (str(lifecycle.decision_id), {"chargeback": False})]
    assert body["precedents"][0]["amount_similarity"] == pytest.approx(0.8)
    assert [c["conflict_type"] for c in body["conflicts"]] == ["direction"]
    assert _client(outsider).get(f"/api/v1/governance/approvals/{request.pk}/memory").status_code == 404


def test_reviews_and_a_decisions_memory_within_my_reach(people, open_lifecycle):
    person, outsider = people
    lifecycle = open_lifecycle(domain="test")
    review = review_open(decision_id=lifecycle.decision_id, review_type="context_change", reason="target moved")
    listed = _client(person).get("/api/v1/governance/reviews").json()
    assert [r["id"] for r in listed["results"]] == [str(review.pk)]
    assert _client(outsider).get("/api/v1/governance/reviews").json()["results"] == []
    body = _client(person).get(f"/api/v1/governance/decisions/{lifecycle.decision_id}/memory").json()
    assert body["lifecycle"]["state"] == "under_review"
    assert [t["to_state"] for t in body["transitions"]] == ["active", "under_review"]
    assert [r["review_type"] for r in body["reviews"]] == ["context_change"]
    response = _client(outsider).get(f"/api/v1/governance/decisions/{lifecycle.decision_id}/memory")
    assert response.status_code == 404 and response.json()["error"]["code"] == "lifecycle_not_found"


def test_memory_reads_need_a_signed_in_user(open_lifecycle):
    lifecycle = open_lifecycle()
    assert APIClient().get("/api/v1/governance/reviews").status_code == 401
    assert APIClient().get(f"/api/v1/governance/decisions/{lifecycle.decision_id}/memory").status_code == 401
