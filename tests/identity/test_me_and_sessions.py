"""The signed-in user's endpoints: me, profile, sessions, logout."""
import pytest

from audit.models import AuditEvent
from audit.services import audit_sequence
from identity.models import SovereignSession, User, UserProfile
from tests.clients import APIClient

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]

PHONE = "+5511987654321"


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_me_requires_a_session_token_with_a_bearer_challenge(api_client):
    response = api_client.get("/api/v1/identity/me")
    assert response.status_code == 401 and response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_profile_patch_changes_only_given_fields_and_is_audited(sign_in):
    client = bearer(sign_in(PHONE)["session_token"])
    response = client.patch("/api/v1/identity/me/profile", {"name": "Ana Souza"})
    assert response.status_code == 200 and response.json()["name"] == "Ana Souza"
    response = client.patch("/api/v1/identity/me/profile", {"email": "ana@example.com"})
    assert response.json()["name"] == "Ana Souza" and response.json()["email"] == "ana@example.com"
    assert client.get("/api/v1/identity/me").json()["profile"]["email"] == "ana@example.com"
    audit_sequence()
    event = AuditEvent.objects.filter(type="PROFILE_UPDATED").order_by("sequence").last()
    assert event.before == {"email": ""} and event.after == {"email": "ana@example.com"}
    assert UserProfile.history.count() >= 3


def test_profile_patch_rejects_bad_input(sign_in):
    client = bearer(sign_in(PHONE)["session_token"])
    response = client.patch("/api/v1/identity/me/profile", {"email": "nope", "avatar_url": "ftp:x"})
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"email", "avatar_url"}


def test_sessions_list_and_revoke_one(sign_in):
    first = sign_in(PHONE, fingerprint="phone")
    second = sign_in(PHONE, fingerprint="laptop")
    client = bearer(first["session_token"])
    listed = client.get("/api/v1/identity/sessions").json()
    assert listed["count"] == 2
    assert {s["session_id"]: s["current"] for s in listed["results"]} == {first["session_id"]: True,
                                                                          second["session_id"]: False}
    assert client.delete(f"/api/v1/identity/sessions/{second['session_id']}").status_code == 204
    refused = bearer(second["session_token"]).get("/api/v1/identity/me")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "session_revoked"
    assert client.get("/api/v1/identity/me").status_code == 200


def test_the_session_list_holds_only_the_callers_own(sign_in):
    mine = sign_in(PHONE)
    theirs = sign_in("+5521987654321")
    listed = bearer(mine["session_token"]).get("/api/v1/identity/sessions").json()
    assert [s["session_id"] for s in listed["results"]] == [mine["session_id"]]
    assert SovereignSession.objects.filter(pk=theirs["session_id"], is_active=True).exists()


@pytest.mark.parametrize("status", ["suspended", "banned"])
def test_a_session_of_an_account_no_longer_active_is_refused(sign_in, status):
    """Even with the session itself still open (the status changed by another path than the service, which
    also ends the sessions): the account's status is checked on every call."""
    out = sign_in(PHONE)
    User.objects.filter(pk=out["user_id"]).update(status=status)
    assert SovereignSession.objects.get(pk=out["session_id"]).is_active
    response = bearer(out["session_token"]).get("/api/v1/identity/me")
    assert response.status_code == 401 and response.json()["error"]["code"] == "user_inactive"


def test_another_users_session_is_not_found(sign_in):
    mine = sign_in(PHONE)
    theirs = sign_in("+5521987654321")
    response = bearer(mine["session_token"]).delete(f"/api/v1/identity/sessions/{theirs['session_id']}")
    assert response.status_code == 404
    assert SovereignSession.objects.get(pk=theirs["session_id"]).is_active


def test_logout_ends_the_current_session(sign_in):
    out = sign_in(PHONE)
    client = bearer(out["session_token"])
    assert client.post("/api/v1/identity/logout").status_code == 204
    assert client.get("/api/v1/identity/me").status_code == 401
    session = SovereignSession.objects.get(pk=out["session_id"])
    assert not session.is_active and session.revoked_reason == "logout"
