"""App credentials (HTTP Basic) and session tokens (Bearer) as DRF authentication, and the scope permissions."""
from __future__ import annotations

import base64

import pytest
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from audit import context as audit_context
from identity.authentication import AppPrincipal
from identity.models import Application, User
from identity.permissions import IsSignedInUser, scope_required
from identity.services.apps import app_set_status, credential_revoke
from identity.services.sessions import session_revoke, user_set_status
from tests.identity.conftest import basic

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


class BillingView(APIView):
    permission_classes = [scope_required("billing")]

    def get(self, request):
        ctx = audit_context.current()
        return Response({"app_id": str(request.user.app_id), "tenant_id": str(request.user.tenant_id),
                         "scopes": sorted(request.user.scopes), "actor_type": ctx.actor_type,
                         "actor_id": str(ctx.actor_id), "ctx_app_id": str(ctx.app_id)})


class MeView(APIView):
    permission_classes = [IsSignedInUser]

    def get(self, request):
        ctx = audit_context.current()
        return Response({"user_id": str(request.user.pk), "session_id": str(request.auth.pk),
                         "actor_type": ctx.actor_type, "actor_id": str(ctx.actor_id)})


urlpatterns = [path("api/t/billing", BillingView.as_view()), path("api/t/me", MeView.as_view())]


@pytest.fixture(autouse=True)
def _urls(settings):
    settings.ROOT_URLCONF = __name__


def test_app_credential_authenticates_and_binds_the_audit_context(make_app, app_client):
    app, _credential, header = make_app(scopes=["billing", "ads"])
    response = app_client(header).get("/api/t/billing")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body == {"app_id": str(app.id), "tenant_id": str(app.owner_id), "scopes": ["ads", "billing"],
                    "actor_type": "app", "actor_id": str(app.id), "ctx_app_id": str(app.id)}


def test_principal_exposes_app_credential_and_tenant(make_app):
    app, credential, _ = make_app(scopes=["billing"])
    principal = AppPrincipal(app=app, credential=credential, scopes=frozenset(credential.scopes))
    assert principal.is_authenticated and principal.app_id == app.id and principal.tenant_id == app.owner_id
    assert principal.credential == credential and principal.has_scope("billing") and not principal.has_scope("ads")


def test_missing_credentials_answer_401_with_a_challenge(api_client):
    response = api_client.get("/api/t/billing")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="api"'
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("header", [
    "Basic !!!notbase64",
    "Basic " + base64.b64encode(b"no-colon").decode(),
    "Basic " + base64.b64encode(b"user:password").decode(),
    "Basic " + base64.b64encode(b"pq_pk_unknown:pq_sk_whatever").decode(),
    "Basic a b",
])
def test_malformed_or_unknown_credentials_are_401(app_client, header):
    response = app_client(header).get("/api/t/billing")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"


def test_wrong_secret_is_401(make_app, app_client):
    _app, credential, _ = make_app(scopes=["billing"])
    response = app_client(basic(credential.public_key, "pq_sk_" + "x" * 43)).get("/api/t/billing")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"


def test_revoked_credential_fails_on_the_next_request(make_app, app_client):
    _app, credential, header = make_app(scopes=["billing"])
    client = app_client(header)
    assert client.get("/api/t/billing").status_code == 200
    credential_revoke(credential=credential)
    response = client.get("/api/t/billing")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "credential_revoked"


@pytest.mark.parametrize("status", [Application.Status.SUSPENDED, Application.Status.DELETED])
def test_inactive_app_fails_at_once(make_app, app_client, status):
    app, _credential, header = make_app(scopes=["billing"])
    client = app_client(header)
    assert client.get("/api/t/billing").status_code == 200
    app_set_status(app=app, status=status, reason="test")
    response = client.get("/api/t/billing")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "app_inactive"


def test_out_of_scope_is_403_scope_required(make_app, app_client):
    _app, _credential, header = make_app(scopes=["ads"])
    response = app_client(header).get("/api/t/billing")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "scope_required"


def test_a_signed_in_user_is_not_an_app(user_client):
    client, _user, _session = user_client()
    response = client.get("/api/t/billing")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "app_credentials_required"


def test_session_token_authenticates_the_user_and_binds_the_audit_context(user_client):
    client, user, session = user_client()
    response = client.get("/api/t/me")
    assert response.status_code == 200
    assert response.json() == {"user_id": str(user.pk), "session_id": str(session.pk), "actor_type": "user",
                               "actor_id": str(user.pk)}


def test_an_app_is_not_a_signed_in_user(make_app, app_client):
    _app, _credential, header = make_app(scopes=["identity", "billing"])
    response = app_client(header).get("/api/t/me")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "signed_in_user_required"


@pytest.mark.parametrize("token", ["pq_st_unknown", "not-a-token", "pq_st_" + "é"])
def test_unknown_session_tokens_are_401(api_client, token):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = api_client.get("/api/t/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


def test_revoked_session_is_refused_at_once(user_client):
    client, _user, session = user_client()
    assert client.get("/api/t/me").status_code == 200
    session_revoke(session=session)
    response = client.get("/api/t/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "session_revoked"


def test_expired_session_is_refused(user_client):
    client, _user, session = user_client()
    from django.utils import timezone

    type(session).objects.filter(pk=session.pk).update(expires_at=timezone.now())
    response = client.get("/api/t/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "session_expired"


@pytest.mark.parametrize("status", [User.Status.SUSPENDED, User.Status.BANNED])
def test_stopping_a_user_ends_their_sessions(user_client, status):
    client, user, session = user_client()
    user_set_status(user=user, status=status, reason="fraud review")
    session.refresh_from_db()
    assert session.is_active is False and session.revoked_reason == f"user_{status}"
    assert client.get("/api/t/me").status_code == 401


def test_scope_required_is_one_class_per_scope_and_refuses_unknown_scopes():
    assert scope_required("billing") is scope_required("billing")
    assert scope_required("billing").required_scope == "billing"
    with pytest.raises(ValueError):
        scope_required("payments")
