"""The approval API: inbox listing and decisions over HTTP with a user session."""
import base64
import uuid
from datetime import timedelta

import pytest
import yaml
from django.utils import timezone

from governance.models import ApprovalDecision, ApprovalRequest
from identity.services.apps import app_create, credential_issue
from identity.services.sessions import session_open
from tests.clients import APIClient

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]
WHY = "Checked the payout against the invoice."


@pytest.fixture
def signed_in():
    def make(user) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {session_open(user=user).token}",
                           HTTP_USER_AGENT="inbox-test/1.0")
        return client

    return make


@pytest.fixture
def approver(make_user, grant):
    user = make_user()
    grant(user, scopes=["test"], max_impact="high")
    return user


def url(request=None, *, decisions=False):
    if request is None:
        return "/api/v1/governance/approvals"
    return f"/api/v1/governance/approvals/{request.pk}" + ("/decisions" if decisions else "")


def error_code(response):
    body = response.json()
    assert set(body) == {"error"}
    return body["error"]["code"]


def test_the_inbox_lists_what_the_signed_in_authority_can_decide(request_factory, approver, signed_in, make_user,
                                                                 grant):
    mine = request_factory(amount=500_000)
    too_high = request_factory(amount=50_000_000)  # critical
    other_domain = request_factory(domain="ads")
    own = request_factory(requested_by=approver)
    expired = request_factory()
    ApprovalRequest.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = signed_in(approver).get(url(), {"status": "pending"})
    assert response.status_code == 200
    body = response.json()
    assert [r["id"] for r in body["results"]] == [str(mine.pk)]
    assert body["count"] == 1
    item = body["results"][0]
    assert item["impact"] == "medium" and item["required_approvals"] == 1 and item["approvals"] == 0
    assert {str(too_high.pk), str(other_domain.pk), str(own.pk)}.isdisjoint(r["id"] for r in body["results"])


def test_the_inbox_is_paginated(request_factory, approver, signed_in):
    for _ in range(3):
        request_factory()
    body = signed_in(approver).get(url(), {"page_size": 2}).json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]


def test_decided_requests_are_listed_by_status(request_factory, approver, signed_in):
    request = request_factory()
    client = signed_in(approver)
    assert client.post(url(request, decisions=True), {"decision": "rejected", "justification": WHY}).status_code == 201
    assert client.get(url()).json()["count"] == 0
    rejected = client.get(url(), {"status": "rejected"}).json()
    assert [r["id"] for r in rejected["results"]] == [str(request.pk)]
    response = client.get(url(), {"status": "lost"})
    assert response.status_code == 400 and "status" in response.json()["error"]["fields"]


def test_someone_without_authority_sees_an_empty_inbox(request_factory, make_user, signed_in):
    request_factory()
    assert signed_in(make_user()).get(url()).json()["count"] == 0


def test_approve_over_http(request_factory, approver, signed_in, test_domain):
    request = request_factory(reference="payout-http")
    response = signed_in(approver).post(url(request, decisions=True),
                                        {"decision": "approved", "justification": WHY})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["final"] is True and body["approvals"] == 1 and body["required_approvals"] == 1
    assert body["request"]["status"] == "approved"
    assert body["decision"]["decision"] == "approved" and body["decision"]["decided_by"] == str(approver.pk)
    row = ApprovalDecision.objects.get(pk=body["decision"]["id"])
    assert row.user_agent == "inbox-test/1.0" and row.ip == "127.0.0.1" and row.hash == body["decision"]["hash"]


def test_a_second_decision_answers_409(request_factory, approver, make_user, grant, signed_in):
    request = request_factory()
    other = make_user()
    grant(other, scopes=["test"], max_impact="high")
    first = signed_in(approver).post(url(request, decisions=True), {"decision": "approved", "justification": WHY})
    assert first.status_code == 201
    second = signed_in(other).post(url(request, decisions=True), {"decision": "rejected", "justification": WHY})
    assert second.status_code == 409 and error_code(second) == "approval_already_decided"
    assert ApprovalRequest.objects.get(pk=request.pk).status == "approved"


def test_quorum_over_http(request_factory, make_user, grant, signed_in):
    request = request_factory(amount=50_000_000)
    first, second = make_user(), make_user()
    for person in (first, second):
        grant(person, scopes=["test"], max_impact="critical")
    body = signed_in(first).post(url(request, decisions=True), {"decision": "approved", "justification": WHY}).json()
    assert body["final"] is False and body["approvals"] == 1 and body["request"]["status"] == "pending"
    again = signed_in(first).post(url(request, decisions=True), {"decision": "approved", "justification": WHY})
    assert again.status_code == 409 and error_code(again) == "already_decided_by_you"
    body = signed_in(second).post(url(request, decisions=True), {"decision": "approved", "justification": WHY}).json()
    assert body["final"] is True and body["approvals"] == 2


@pytest.mark.parametrize(("payload", "status", "code"), [
    ({"decision": "approved", "justification": "short"}, 400, "validation_error"),
    ({"decision": "approved"}, 400, "validation_error"),
    ({"decision": "perhaps", "justification": WHY}, 400, "validation_error"),
    ({"decision": "escalated", "justification": WHY}, 201, None),
])
def test_decision_input_is_validated(request_factory, approver, signed_in, payload, status, code):
    response = signed_in(approver).post(url(request_factory(), decisions=True), payload)
    assert response.status_code == status
    if code:
        assert error_code(response) == code


def test_authority_errors_are_403_with_their_code(request_factory, make_user, grant, signed_in):
    request = request_factory(amount=50_000_000)
    low = make_user()
    grant(low, scopes=["test"], max_impact="low")
    response = signed_in(low).post(url(request, decisions=True), {"decision": "approved", "justification": WHY})
    assert response.status_code == 403 and error_code(response) == "authority_impact"
    requester = ApprovalRequest.objects.get(pk=request.pk).requested_by
    from identity.models import User

    own = signed_in(User.objects.get(pk=requester)).post(url(request, decisions=True),
                                                          {"decision": "approved", "justification": WHY})
    assert own.status_code == 403 and error_code(own) == "self_approval_forbidden"


def test_expired_requests_answer_410(request_factory, approver, signed_in):
    request = request_factory()
    ApprovalRequest.objects.filter(pk=request.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = signed_in(approver).post(url(request, decisions=True), {"decision": "approved", "justification": WHY})
    assert response.status_code == 410 and error_code(response) == "approval_expired"
    assert ApprovalRequest.objects.get(pk=request.pk).status == "expired"


def test_unknown_requests_are_404(approver, signed_in):
    client = signed_in(approver)
    response = client.post(f"/api/v1/governance/approvals/{uuid.uuid4()}/decisions",
                           {"decision": "approved", "justification": WHY})
    assert response.status_code == 404 and error_code(response) == "approval_not_found"
    assert client.get(f"/api/v1/governance/approvals/{uuid.uuid4()}").status_code == 404


def test_detail_shows_decisions_within_reach_only(request_factory, approver, signed_in, make_user):
    request = request_factory()
    client = signed_in(approver)
    client.post(url(request, decisions=True), {"decision": "approved", "justification": WHY})
    body = client.get(url(request)).json()
    assert body["status"] == "approved" and [d["decision"] for d in body["decisions"]] == ["approved"]
    assert signed_in(make_user()).get(url(request)).status_code == 404


def test_the_api_needs_a_user_session(request_factory):
    request = request_factory()
    anonymous = APIClient()
    response = anonymous.get(url())
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert anonymous.post(url(request, decisions=True), {}).status_code == 401


def test_applications_get_403(request_factory, make_user):
    app = app_create(owner=make_user(), name="Integrator")
    issued = credential_issue(app=app, name="k", scopes=["agents"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(
        f"{issued.credential.public_key}:{issued.secret}".encode()).decode())
    response = client.get(url())
    assert response.status_code == 403 and error_code(response) == "signed_in_user_required"


def test_the_endpoints_are_in_the_schema(client):
    paths = yaml.safe_load(client.get("/api/schema/").content)["paths"]
    post = paths["/api/v1/governance/approvals/{request_id}/decisions"]["post"]
    assert {"201", "400", "403", "404", "409", "410"} <= set(post["responses"])
    assert "status" in {p["name"] for p in paths["/api/v1/governance/approvals"]["get"]["parameters"]}
