"""Mutable identity models keep their history; every change writes its audit event, never a secret."""
import json

import pytest
from django.apps import apps

from audit.models import AuditEvent
from audit.services import audit_sequence
from identity.models import (
    AppCredential,
    Application,
    AppSession,
    AppUser,
    AuthMethod,
    IdentityLink,
    PendingVerification,
    RateLimitEntry,
    SovereignIdentity,
    SovereignSession,
    User,
    UserProfile,
)
from tests.identity.conftest import basic

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]

# The identity app's only models without a history table, and why: their counters change on every OTP request;
# what matters about them (sent, failed, burned, verified, blocked, cleared) is an audit event.
NO_HISTORY = {PendingVerification, RateLimitEntry}


def _identity_models() -> list[type]:
    """Every model of the identity app but the history tables themselves: a new one has history or is listed."""
    return [model for model in apps.get_app_config("identity").get_models()
            if not model.__name__.startswith("Historical")]


def test_every_mutable_identity_model_has_history():
    models = _identity_models()
    assert set(models) >= NO_HISTORY
    missing = [model.__name__ for model in models if model not in NO_HISTORY and not hasattr(model, "history")]
    assert missing == []
    assert {User, SovereignIdentity, UserProfile, AuthMethod, IdentityLink, SovereignSession, Application,
            AppCredential, AppUser, AppSession} <= {model for model in models if hasattr(model, "history")}


def test_history_excludes_secrets_and_records_the_console_user_but_not_an_app(make_app, app_client):
    fields = {f.name for f in User.history.model._meta.fields}
    assert "password" not in fields
    assert "secret_hash" not in {f.name for f in AppCredential.history.model._meta.fields}
    assert "token_hash" not in {f.name for f in SovereignSession.history.model._meta.fields}
    _app, _cred, header = make_app()
    response = app_client(header).post("/api/v1/app/users", {"external_user_id": "a", "phone": "+5511912345601"})
    assert response.status_code == 201
    record = AppUser.history.get(id=response.json()["id"])
    assert record.history_user is None  # an application is not a user


def test_every_change_is_audited_without_secrets(sign_in, make_app, app_client, user_client, prove):
    out = sign_in("+5511912345601")
    owner = app_client(f"Bearer {out['session_token']}")
    owner.patch("/api/v1/identity/me/profile", {"name": "Ana"})
    app = owner.post("/api/v1/apps", {"name": "Shop"}).json()
    cred = owner.post(f"/api/v1/apps/{app['id']}/credentials", {"name": "p", "scopes": ["identity"]}).json()
    api = app_client(basic(cred["public_key"], cred["secret"]))
    api.post("/api/v1/app/users", {"external_user_id": "a", "phone": "+5511912345602"})
    prove(api, "a")
    api.post("/api/v1/app/users/a/links", {"provider": "apple", "provider_id": "ap-1"})
    session = api.post("/api/v1/app/sessions", {"external_user_id": "a"}).json()
    api.delete(f"/api/v1/app/sessions/{session['id']}")
    owner.delete(f"/api/v1/apps/{app['id']}/credentials/{cred['id']}")
    owner.post("/api/v1/identity/logout")
    audit_sequence()

    events = list(AuditEvent.objects.order_by("sequence"))
    types = {e.type for e in events}
    assert types >= {"OTP_STARTED", "OTP_SENT", "IDENTITY_CREATED", "OTP_VERIFIED", "SESSION_OPENED",
                     "PROFILE_UPDATED", "APP_CREATED", "APP_CREDENTIAL_ISSUED", "APP_USER_LINKED",
                     "APP_USER_PROOF_STARTED", "APP_USER_PROVEN", "IDENTITY_LINKED",
                     "APP_SESSION_OPENED", "APP_SESSION_REVOKED", "APP_CREDENTIAL_REVOKED", "SESSION_REVOKED"}
    dump = json.dumps([[e.before, e.after, e.metadata, e.reason] for e in events])
    for secret in (out["session_token"], cred["secret"], cred["secret"].removeprefix("pq_sk_")):
        assert secret not in dump
    linked = next(e for e in events if e.type == "APP_USER_LINKED")
    assert linked.actor_type == "app" and str(linked.app_id) == app["id"]
    created = next(e for e in events if e.type == "APP_CREATED")
    assert created.actor_type == "user" and str(created.actor_id) == out["user_id"]
