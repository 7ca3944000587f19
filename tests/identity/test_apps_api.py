"""Owners' applications and credentials; apps' users, links and sessions; the app's audit trail."""
import datetime

import pytest
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from audit.services import audit_sequence
from identity.api.app import AppUserOut, app_user_data
from identity.models import AppCredential, AppSession, AppUser, IdentityLink, SovereignIdentity, User
from identity.services.sessions import user_set_status
from tests.clients import APIClient
from tests.identity.conftest import basic

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def client_for(header: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    return client


@pytest.fixture
def owner(sign_in):
    out = sign_in("+5511900000001")
    return client_for(f"Bearer {out['session_token']}"), User.objects.get(pk=out["user_id"])


def test_owner_creates_an_app_and_a_credential_shown_once(owner):
    client, user = owner
    created = client.post("/api/v1/apps", {"name": "Loja Azul"})
    assert created.status_code == 201
    app = created.json()
    assert app["slug"] == "loja-azul" and app["tenant_id"] == str(user.pk) and app["status"] == "active"
    issued = client.post(f"/api/v1/apps/{app['id']}/credentials", {"name": "Production",
                                                                    "scopes": ["identity", "billing"]})
    assert issued.status_code == 201
    body = issued.json()
    assert body["public_key"].startswith("pq_pk_") and body["secret"].startswith("pq_sk_")
    assert body["scopes"] == ["identity", "billing"]
    listed = client.get(f"/api/v1/apps/{app['id']}/credentials").json()["results"]
    assert len(listed) == 1 and "secret" not in listed[0] and "secret_hash" not in listed[0]
    stored = AppCredential.objects.get(pk=body["id"])
    assert body["secret"] not in stored.secret_hash and stored.secret_hash != body["secret"]
    api = client_for(basic(body["public_key"], body["secret"]))
    assert api.post("/api/v1/app/users", {"external_user_id": "c-1", "phone": "+5511912345678"}).status_code == 201


def test_credential_input_is_validated(owner):
    client, _user = owner
    app = client.post("/api/v1/apps", {"name": "X"}).json()
    response = client.post(f"/api/v1/apps/{app['id']}/credentials", {"name": "p", "scopes": ["payments"]})
    assert response.status_code == 400 and "scopes" in response.json()["error"]["fields"]
    response = client.post(f"/api/v1/apps/{app['id']}/credentials", {"name": "p", "scopes": []})
    assert response.status_code == 400


def test_taken_slug_is_409(owner):
    client, _user = owner
    assert client.post("/api/v1/apps", {"name": "A", "slug": "shop"}).status_code == 201
    response = client.post("/api/v1/apps", {"name": "B", "slug": "shop"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "slug_taken"
    response = client.post("/api/v1/apps", {"name": "C", "slug": "Shop"})  # the same slug once stored
    assert response.status_code == 409 and response.json()["error"]["code"] == "slug_taken"


@pytest.mark.parametrize("slug", ["___", "-", "_-_"])
def test_a_slug_with_nothing_left_once_made_a_slug_is_400(owner, slug):
    client, user = owner
    response = client.post("/api/v1/apps", {"name": "Shop", "slug": slug})
    assert response.status_code == 400 and list(response.json()["error"]["fields"]) == ["slug"]
    assert not user.applications.exists()


def test_apps_with_the_same_name_get_their_own_slugs(owner, monkeypatch):
    """A slug made from the name that another request took meanwhile: another one is made, not a 409."""
    from identity.services import apps as app_services

    client, _user = owner
    assert client.post("/api/v1/apps", {"name": "Shop"}).json()["slug"] == "shop"
    made = iter(["shop", "shop"])
    real = app_services._unique_slug
    monkeypatch.setattr(app_services, "_unique_slug", lambda name: next(made, None) or real(name))
    response = client.post("/api/v1/apps", {"name": "Shop"})
    assert response.status_code == 201 and response.json()["slug"].startswith("shop-")


def test_revoking_a_credential_stops_it_at_once(owner):
    client, _user = owner
    app = client.post("/api/v1/apps", {"name": "A"}).json()
    cred = client.post(f"/api/v1/apps/{app['id']}/credentials", {"name": "p", "scopes": ["identity"]}).json()
    api = client_for(basic(cred["public_key"], cred["secret"]))
    assert api.get("/api/v1/app/users/nobody").status_code == 404
    assert client.delete(f"/api/v1/apps/{app['id']}/credentials/{cred['id']}").status_code == 204
    refused = api.get("/api/v1/app/users/nobody")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "credential_revoked"


def test_another_owners_app_and_credentials_are_not_found(owner, sign_in, make_app):
    client, _user = owner
    other_app, other_cred, _h = make_app()
    assert client.get(f"/api/v1/apps/{other_app.id}").status_code == 404
    assert client.get(f"/api/v1/apps/{other_app.id}/credentials").status_code == 404
    assert client.post(f"/api/v1/apps/{other_app.id}/credentials", {"name": "x", "scopes": ["audit"]}
                       ).status_code == 404
    assert client.delete(f"/api/v1/apps/{other_app.id}/credentials/{other_cred.id}").status_code == 404
    other_cred.refresh_from_db()
    assert other_cred.status == "active"


def test_app_users_by_phone_and_by_user_id(make_app, app_client, prove):
    app, _cred, header = make_app()
    api = app_client(header)
    first = api.post("/api/v1/app/users", {"external_user_id": "c-1", "phone": "+5511912345678"})
    assert first.status_code == 201
    # A claim: it shows neither who the person is nor their status.
    assert (first.json()["verified"], first.json()["user_id"], first.json()["user_status"]) == (False, None, None)
    again = api.post("/api/v1/app/users", {"external_user_id": "c-1", "phone": "+55 11 91234-5678"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    clash = api.post("/api/v1/app/users", {"external_user_id": "c-1", "phone": "+5511912340000"})
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "external_id_taken"
    proven = prove(api, "c-1")
    assert proven["verified"] is True and proven["user_status"] == "active"
    user_id = proven["user_id"]
    # A person proven to one of the tenant's apps is linkable by id from another of its apps (a claim there).
    _second, _cred2, header2 = make_app(owner=app.owner)
    by_id = app_client(header2).post("/api/v1/app/users", {"external_user_id": "same", "user_id": user_id})
    assert by_id.status_code == 201 and by_id.json()["verified"] is False
    # The owner is nobody's customer until proven: not linkable by id.
    owner = api.post("/api/v1/app/users", {"external_user_id": "owner", "user_id": str(app.owner_id)})
    assert owner.status_code == 404
    got = api.get("/api/v1/app/users/c-1")
    assert got.status_code == 200 and got.json()["user_id"] == user_id


@pytest.mark.parametrize("proven", [True, False])
def test_app_user_representation_is_what_its_declared_fields_give(make_app, app_client, proven):
    """AppUserOut and the hottest read write their dict by hand; it must stay what the declared fields produce
    (for a claim, with the person's id and status hidden)."""
    from identity.services.apps import app_user_attest

    app, _cred, header = make_app()
    app_client(header).post("/api/v1/app/users", {"external_user_id": "c-9", "phone": "+5511912345679"})
    app_user = AppUser.objects.select_related("user").get(app=app, external_user_id="c-9")
    if proven:
        app_user_attest(app_user=app_user, actor=None, reason="checked by a test")
        app_user = AppUser.objects.select_related("user").get(app=app, external_user_id="c-9")
    serializer = AppUserOut(app_user)
    by_fields = serializers.Serializer.to_representation(serializer, app_user)
    if not proven:  # what the declared fields would read, hidden until the person proves themselves
        by_fields.update(user_id=None, user_status=None)
    assert set(by_fields) == set(serializer.fields)
    assert serializer.data == by_fields
    assert app_user_data(app_user) == by_fields
    assert app_client(header).get("/api/v1/app/users/c-9").json() == by_fields


@pytest.mark.parametrize("body", [{"external_user_id": "x"}, {"external_user_id": "x", "phone": "+5511912345678",
                                                               "user_id": "6f1c7d0e-8f5e-4b59-9a35-0b7a7c0e0a11"},
                                  {"external_user_id": "", "phone": "+5511912345678"},
                                  {"external_user_id": "x", "phone": "123"}])
def test_app_user_input_is_validated(make_app, app_client, body):
    _app, _cred, header = make_app()
    assert app_client(header).post("/api/v1/app/users", body).status_code == 400


@pytest.mark.parametrize("external_user_id", ["org/42", "/", ".", "..", "a/.."])
def test_an_external_id_that_could_not_be_read_back_is_refused(make_app, app_client, external_user_id):
    """``GET /app/users/{external_user_id}`` could never reach it (a slash, or a dot segment clients remove)."""
    app, _cred, header = make_app()
    response = app_client(header).post("/api/v1/app/users", {"external_user_id": external_user_id,
                                                             "phone": "+5511912345678"})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["external_user_id"]
    assert not AppUser.objects.filter(app=app).exists()
    assert not SovereignIdentity.objects.filter(primary_phone="+5511912345678").exists()


@pytest.mark.parametrize("external_user_id", ["a.b", "...", "user@example.com", "42:7", "ação"])
def test_other_external_ids_are_linked_and_read_back(make_app, app_client, external_user_id):
    from urllib.parse import quote

    _app, _cred, header = make_app()
    api = app_client(header)
    created = api.post("/api/v1/app/users", {"external_user_id": external_user_id, "phone": "+5511912345678"})
    assert created.status_code == 201
    read = api.get(f"/api/v1/app/users/{quote(external_user_id)}")
    assert read.status_code == 200 and read.json()["id"] == created.json()["id"]


def test_identity_links_one_provider_id_one_user(make_app, app_client, prove):
    _app, _cred, header = make_app()
    api = app_client(header)
    api.post("/api/v1/app/users", {"external_user_id": "a", "phone": "+5511912345601"})
    api.post("/api/v1/app/users", {"external_user_id": "b", "phone": "+5511912345602"})
    unproven = api.post("/api/v1/app/users/a/links", {"provider": "google", "provider_id": "g-123"})
    assert unproven.status_code == 404 and unproven.json()["error"]["code"] == "app_user_unproven"
    prove(api, "a")
    prove(api, "b")
    link = api.post("/api/v1/app/users/a/links", {"provider": "google", "provider_id": "g-123"})
    assert link.status_code == 201
    assert api.post("/api/v1/app/users/a/links", {"provider": "google", "provider_id": "g-123"}).status_code == 200
    taken = api.post("/api/v1/app/users/b/links", {"provider": "google", "provider_id": "g-123"})
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "provider_identity_taken"
    assert api.post("/api/v1/app/users/b/links", {"provider": "myspace", "provider_id": "1"}).status_code == 400
    assert api.get("/api/v1/app/users/a/links").json()["count"] == 1
    assert IdentityLink.objects.count() == 1


def test_app_sessions_record_the_ip_and_can_be_revoked(make_app, app_client, prove):
    _app, _cred, header = make_app()
    api = app_client(header)
    api.post("/api/v1/app/users", {"external_user_id": "a", "phone": "+5511912345601"})
    assert api.post("/api/v1/app/sessions", {"external_user_id": "a"}).status_code == 404  # a claim: no session
    prove(api, "a")
    opened = api.post("/api/v1/app/sessions", {"external_user_id": "a", "ip_address": "198.51.100.23"})
    assert opened.status_code == 201
    body = opened.json()
    assert body["ip_address"] == "198.51.100.23" and body["status"] == "active"
    default_ip = api.post("/api/v1/app/sessions", {"external_user_id": "a"}, REMOTE_ADDR="192.0.2.44")
    assert default_ip.json()["ip_address"] == "192.0.2.44"
    assert api.delete(f"/api/v1/app/sessions/{body['id']}").status_code == 204
    assert api.get(f"/api/v1/app/sessions/{body['id']}").json()["status"] == "revoked"
    assert api.post("/api/v1/app/sessions", {"external_user_id": "ghost"}).status_code == 404


def test_banning_a_user_revokes_their_app_sessions(make_app, app_client, prove):
    _app, _cred, header = make_app()
    api = app_client(header)
    api.post("/api/v1/app/users", {"external_user_id": "a", "phone": "+5511912345601"})
    user_id = prove(api, "a")["user_id"]
    session_id = api.post("/api/v1/app/sessions", {"external_user_id": "a"}).json()["id"]
    user_set_status(user=User.objects.get(pk=user_id), status="banned", reason="fraud")
    assert AppSession.objects.get(pk=session_id).status == "revoked"
    refused = api.post("/api/v1/app/sessions", {"external_user_id": "a"})
    assert refused.status_code == 409


def test_audit_events_are_the_apps_own_in_chain_order_and_paginated(make_app, app_client):
    _app, _cred, header = make_app(scopes=["identity", "audit"])
    _other, _cred2, other_header = make_app(scopes=["identity", "audit"])
    api, other = app_client(header), app_client(other_header)
    for i in range(3):
        api.post("/api/v1/app/users", {"external_user_id": f"u{i}", "phone": f"+551191234560{i}"})
    other.post("/api/v1/app/users", {"external_user_id": "z", "phone": "+5511912345699"})
    audit_sequence()
    page = api.get("/api/v1/audit/events?limit=2").json()
    sequences = [e["sequence"] for e in page["results"]]
    assert len(sequences) == 2 and sequences == sorted(sequences) and page["next"]
    rest = api.get(f"/api/v1/audit/events?after_sequence={page['next_after_sequence']}&limit=50").json()
    events = page["results"] + rest["results"]
    assert rest["next"] is None
    assert [e["type"] for e in events].count("APP_USER_LINKED") == 3
    assert all(e["target_id"] != other.get("/api/v1/app/users/z").json()["id"] for e in events)
    assert api.get("/api/v1/audit/events?after_sequence=abc").status_code == 400


@pytest.mark.parametrize(("query", "fields"), [
    ("after_sequence=abc", ["after_sequence"]), ("after_sequence=-1", ["after_sequence"]),
    ("limit=abc", ["limit"]), ("limit=0", ["limit"]), ("after_sequence=x&limit=-3", ["after_sequence", "limit"]),
])
def test_audit_event_paging_names_the_parameter_at_fault(make_app, app_client, query, fields):
    _app, _cred, header = make_app(scopes=["audit"])
    response = app_client(header).get(f"/api/v1/audit/events?{query}")
    assert response.status_code == 400
    assert sorted(response.json()["error"]["fields"]) == fields


def test_a_read_naming_an_app_user_still_refuses_bad_credentials_and_missing_scopes(make_app, app_client):
    """The app user is read in the credential's query; nothing of it is answered unless the credential passes."""
    from identity.services.apps import app_user_link, credential_revoke

    app, cred, header = make_app()
    app_user_link(app=app, external_user_id="u-1", phone="+5511987650006")
    assert app_client(header).get("/api/v1/app/users/u-1").status_code == 200
    wrong_secret = basic(cred.public_key, "pq_sk_" + "x" * 40)
    response = app_client(wrong_secret).get("/api/v1/app/users/u-1")
    assert response.status_code == 401 and "u-1" not in response.content.decode()
    _app, _c, billing_only = make_app(owner=app.owner, scopes=("billing",))
    response = app_client(billing_only).get("/api/v1/app/users/u-1")
    assert response.status_code == 403 and response.json()["error"]["code"] == "scope_required"
    credential_revoke(credential=cred)
    response = app_client(header).get("/api/v1/app/users/u-1")
    assert response.status_code == 401 and response.json()["error"]["code"] == "credential_revoked"


# The app-user read answers what nearly every client asks (no Accept, */* or application/json, no query string)
# through the project's content negotiation shortcut (core.api.ContentNegotiation); any other Accept takes DRF's whole
# negotiation. Both must answer the same, successes and failures alike.
_NEGOTIATED = {"HTTP_ACCEPT": "application/json, */*;q=0.5"}  # not what the shortcut takes: full negotiation


def _same_answer(plain, negotiated) -> None:
    assert (plain.status_code, plain.content) == (negotiated.status_code, negotiated.content)
    for header in ("Content-Type", "Allow", "WWW-Authenticate", "Vary"):
        assert plain.get(header) == negotiated.get(header), header


def test_the_app_user_read_answers_alike_whatever_json_the_client_accepts(make_app):
    from identity.services.apps import app_user_link

    app, _cred, header = make_app()
    app_user_link(app=app, external_user_id="u-1", phone="+5511987650007")
    client = client_for(header)
    plain, negotiated = client.get("/api/v1/app/users/u-1"), client.get("/api/v1/app/users/u-1", **_NEGOTIATED)
    assert plain.status_code == 200 and plain.json()["external_user_id"] == "u-1"
    _same_answer(plain, negotiated)
    # What a DRF Response of the declared serializer's data would answer (core.api.rendered).
    app_user = AppUser.objects.select_related("user").get(app=app, external_user_id="u-1")
    assert plain.content == JSONRenderer().render(AppUserOut(app_user).data)
    assert plain["Content-Type"] == "application/json"
    # An Accept asking for indentation gets it, as from DRF's renderer.
    indented = client.get("/api/v1/app/users/u-1", HTTP_ACCEPT="application/json; indent=2")
    assert indented.content == JSONRenderer().render(AppUserOut(app_user).data, "application/json; indent=2")
    # A query string also takes DRF's way, with the same answer.
    assert client.get("/api/v1/app/users/u-1?x=1").content == plain.content
    # So do HEAD and OPTIONS (DRF's own handling).
    assert client.head("/api/v1/app/users/u-1").status_code == 200
    assert client.options("/api/v1/app/users/u-1").status_code == 200


def test_the_app_user_read_fails_alike_whatever_json_the_client_accepts(make_app):
    app, cred, header = make_app()
    _o, _c, billing_only = make_app(owner=app.owner, scopes=("billing",))
    cases = [
        ({}, "not_authenticated", 401),
        ({"HTTP_AUTHORIZATION": basic(cred.public_key, "pq_sk_wrong")}, "invalid_credentials", 401),
        ({"HTTP_AUTHORIZATION": "Basic !!!"}, "invalid_credentials", 401),
        ({"HTTP_AUTHORIZATION": billing_only}, "scope_required", 403),
        ({"HTTP_AUTHORIZATION": header}, "app_user_not_found", 404),
    ]
    for extra, code, status in cases:
        client = APIClient()
        plain = client.get("/api/v1/app/users/nobody", **extra)
        negotiated = client.get("/api/v1/app/users/nobody", **extra, **_NEGOTIATED)
        assert plain.status_code == status and plain.json()["error"]["code"] == code, (code, plain.content)
        _same_answer(plain, negotiated)
    # An Accept the view cannot render is DRF's 406.
    refused = client_for(header).get("/api/v1/app/users/nobody", HTTP_ACCEPT="text/html")
    assert refused.status_code == 406 and refused.json()["error"]["code"] == "not_acceptable"


def test_nul_in_an_external_id_or_a_public_key_is_a_clear_4xx(make_app):
    """PostgreSQL text holds no NUL: such ids match nothing (404) and such keys are invalid (401), never a 500."""
    _app, cred, header = make_app()
    for path in ("/api/v1/app/users/a%00b", "/api/v1/app/users/a%00b/links"):
        response = client_for(header).get(path)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found", path
    refused = client_for(basic(cred.public_key + "\x00", "pq_sk_x")).get("/api/v1/app/users/u-1")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_credentials"


def test_app_user_timestamps_are_utc_whatever_time_zone_is_active(make_app, app_client):
    from django.utils import timezone

    app, _cred, header = make_app()
    app_client(header).post("/api/v1/app/users", {"external_user_id": "c-tz", "phone": "+5511912345680"})
    app_user = AppUser.objects.select_related("user").get(app=app, external_user_id="c-tz")
    expected = app_user.created_at.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    with timezone.override("America/Sao_Paulo"):
        assert app_user_data(app_user)["created_at"] == expected
        assert AppUserOut(app_user).data["created_at"] == expected
        assert app_client(header).get("/api/v1/app/users/c-tz").json()["created_at"] == expected
