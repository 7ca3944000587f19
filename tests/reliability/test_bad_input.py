"""Bad input on the real endpoints: a clear 4xx in the one JSON error shape, and nothing written.

Oversized bodies (413), wrong content types (415), malformed JSON, bodies that are not objects, deep nesting,
huge, negative, fractional and non-numeric amounts, NUL bytes and odd unicode in text and JSON fields, unknown
fields, wrong id formats in paths, bodies and queries. Every case compares every table's row count before and
after (audit rows aside, which record refusals).
"""
from __future__ import annotations

import json
import uuid

import pytest
from django.apps import apps

from devtools.world import build_tenant
from tests.clients import APIClient

pytestmark = [pytest.mark.django_db]

# The audit trail may record a refusal, and the idempotency store keeps the caller's 4xx answer for its key (so a
# retry with the same key replays it, as billing documents). Nothing else may change.
MAY_WRITE = {"audit.StagedEvent", "audit.AuditEvent", "billing.IdempotencyKey"}


def counts() -> dict[str, int]:
    return {m._meta.label: m._default_manager.count() for m in apps.get_models() if m._meta.label not in MAY_WRITE}


def assert_error(response, status: int | tuple[int, ...], code: str | None = None) -> dict:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) >= {"code", "message", "fields"}, body
    assert isinstance(body["error"]["fields"], dict)
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]


@pytest.fixture
def world(db):
    return build_tenant("bad-input")


@pytest.fixture
def app(world) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=world.header)
    return client


def write_endpoints(t) -> list[tuple[str, str, dict]]:
    """(method, url, a valid body) for the endpoints that write; each case below breaks the body its own way."""
    return [
        ("post", "/api/v1/app/users", {"external_user_id": "new-user", "phone": "+5511955550001"}),
        ("post", "/api/v1/app/sessions", {"external_user_id": t.external_user_id}),
        ("post", "/api/v1/billing/payment-intents", {"account_id": str(t.billing_account_id), "amount": 100}),
        ("post", "/api/v1/billing/payouts", {"account_id": str(t.billing_account_id), "amount": 100,
                                             "destination": {"type": "pix", "key": "ok@example.com"}}),
        ("post", "/api/v1/billing/subscriptions", {"account_id": str(t.billing_account_id), "plan_id": "p",
                                                   "amount": 100, "interval": "month"}),
        ("post", "/api/v1/ads/budgets", {"ad_account_id": str(t.ad_account_id), "amount_total": 100}),
        ("post", "/api/v1/ads/campaigns", {"ad_account_id": str(t.ad_account_id), "budget_id": str(t.budget_id),
                                           "name": "c", "objective": "clicks"}),
        ("post", f"/api/v1/ads/campaigns/{t.campaign_id}/spend", {"amount": 100, "quantity": 1, "unit": "click"}),
        ("patch", f"/api/v1/ads/budgets/{t.budget_id}", {"amount_total": 3_000_000}),
        ("post", "/api/v1/agents", {"name": "a new agent", "type": "operator"}),
        ("put", f"/api/v1/agents/{t.agent_id}/policies/ads", {"allowed_actions": ["pause_campaign"]}),
        ("post", f"/api/v1/agents/{t.agent_id}/decisions", {
            "domain": "ads", "action": "record_spend", "target_entity": f"campaign:{t.campaign_id}",
            "payload": {"amount": 100, "quantity": 1, "unit": "click"}}),
        ("post", "/api/v1/observer/suggestions", {"agent_id": str(t.observer_id), "confidence": 0.5,
                                                  "finding": "f", "suggestion": "s", "snapshot": {"a": 1}}),
    ]


def send(client, method, url, body, *, raw: bytes | None = None, content_type="application/json", key=None):
    key = key or uuid.uuid4().hex
    data = raw if raw is not None else json.dumps(body)
    return getattr(client, method)(url, data=data, content_type=content_type, HTTP_IDEMPOTENCY_KEY=key)


def test_the_valid_bodies_are_valid(world, app):
    """The baseline: each body below is accepted as it is, so each refusal comes from what a case broke."""
    for method, url, body in write_endpoints(world):
        response = send(app, method, url, body, key=f"valid-{url}")
        assert response.status_code < 300, (method, url, response.content[:300])


def test_oversized_bodies_are_413_and_write_nothing(world, app, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    before = counts()
    for method, url, body in write_endpoints(world):
        big = {**body, "padding": "x" * 10_000}
        assert_error(send(app, method, url, big), 413, "payload_too_large")
    assert counts() == before


def test_the_default_limit_is_one_mebibyte(world, app, settings):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 1024 * 1024
    url = f"/api/v1/ads/campaigns/{world.campaign_id}/spend"
    before = counts()
    raw = b'{"amount": 1, "quantity": 1, "unit": "click", "x": "' + b"y" * (1024 * 1024) + b'"}'
    assert_error(send(app, "post", url, None, raw=raw), 413, "payload_too_large")
    assert counts() == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=xyz", "application/xml"])
def test_wrong_content_types_are_415(world, app, content_type):
    before = counts()
    for method, url, body in write_endpoints(world):
        response = send(app, method, url, None, raw=json.dumps(body).encode(), content_type=content_type)
        assert_error(response, 415, "unsupported_media_type")
    assert counts() == before


@pytest.mark.parametrize("raw", [b"{", b'{"amount": }', b"[1, 2", b"\xff\xfe\x00", b"{'single': 'quotes'}",
                                 b'{"amount": NaN}', b'{"amount": Infinity}', b"", b"   "])
def test_malformed_json_is_400(world, app, raw):
    before = counts()
    for method, url, _body in write_endpoints(world):
        assert_error(send(app, method, url, None, raw=raw), 400)
    assert counts() == before


@pytest.mark.parametrize("raw", [b"null", b"[]", b"[{}]", b'"text"', b"42", b"true"])
def test_bodies_that_are_not_objects_are_400(world, app, raw):
    before = counts()
    for method, url, _body in write_endpoints(world):
        assert_error(send(app, method, url, None, raw=raw), 400)
    assert counts() == before


def test_deeply_nested_json_is_400_not_a_crash(world, app):
    before = counts()
    raw = b'{"payload": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for method, url, _body in write_endpoints(world):
        assert_error(send(app, method, url, None, raw=raw), (400, 413))
    assert counts() == before


AMOUNTS = [-1, 0, -(10**15), 10**15, 10**30, 2**63, 1.5, "100", "1e3", True, None, [], {}, "", "٣"]
AMOUNT_FIELDS = {"/api/v1/billing/payment-intents": "amount", "/api/v1/billing/payouts": "amount",
                 "/api/v1/billing/subscriptions": "amount", "/api/v1/ads/budgets": "amount_total",
                 "spend": "amount", "budget": "amount_total"}


@pytest.mark.parametrize("amount", AMOUNTS, ids=[repr(a) for a in AMOUNTS])
def test_huge_negative_and_non_integer_amounts_are_400(world, app, amount):
    before = counts()
    for method, url, body in write_endpoints(world):
        field = next((f for key, f in AMOUNT_FIELDS.items() if key in url), None)
        if field is None or field not in body:
            continue
        assert_error(send(app, method, url, {**body, field: amount}), 400)
    t = world
    proposal = {"domain": "ads", "action": "record_spend", "target_entity": f"campaign:{t.campaign_id}",
                "payload": {"amount": amount, "quantity": 1, "unit": "click"}}
    assert_error(send(app, "post", f"/api/v1/agents/{t.agent_id}/decisions", proposal), 400)
    assert counts() == before


NASTY_TEXT = ["nul\x00byte", "\x00", "a" * 100_000, "\u202e\u0000", "line\x00\nbreak"]


@pytest.mark.parametrize("text", NASTY_TEXT, ids=["nul-inside", "only-nul", "too-long", "rtl-nul", "nul-newline"])
def test_nul_bytes_and_overlong_text_are_400(world, app, text):
    t = world
    cases = [
        ("post", "/api/v1/app/users", {"external_user_id": text, "phone": "+5511955550002"}),
        ("post", "/api/v1/ads/campaigns", {"ad_account_id": str(t.ad_account_id), "budget_id": str(t.budget_id),
                                           "name": text, "objective": "clicks"}),
        ("post", "/api/v1/agents", {"name": text, "type": "operator"}),
        ("post", "/api/v1/billing/subscriptions", {"account_id": str(t.billing_account_id), "plan_id": text,
                                                   "amount": 100, "interval": "month"}),
        ("post", "/api/v1/observer/suggestions", {"agent_id": str(t.observer_id), "confidence": 0.5,
                                                  "finding": text, "suggestion": "s", "snapshot": {}}),
        # NUL inside JSON fields (payloads, snapshots, destinations): PostgreSQL's jsonb and text refuse it.
        ("post", "/api/v1/observer/suggestions", {"agent_id": str(t.observer_id), "confidence": 0.5,
                                                  "finding": "f", "suggestion": "s", "snapshot": {"k": text}}),
        ("post", f"/api/v1/agents/{t.agent_id}/decisions", {
            "domain": "ads", "action": "pause_campaign", "target_entity": f"campaign:{t.campaign_id}",
            "payload": {"reason": text}}),
        ("post", "/api/v1/billing/payouts", {"account_id": str(t.billing_account_id), "amount": 100,
                                             "destination": {"type": "pix", "key": text}}),
    ]
    before = counts()
    for method, url, body in cases:
        if text == "a" * 100_000 and (body.get("snapshot") or "payload" in body):
            continue  # a long string inside a free-form snapshot or payload is valid there
        assert_error(send(app, method, url, body), 400)
    assert counts() == before


@pytest.mark.parametrize("text", ["Zoë 🚀 ação", "\U0001d54f" * 50, "\u200b\u200d", "<script>alert(1)</script>",
                                  "' OR 1=1 --"])
def test_unicode_text_is_stored_as_given(world, app, text):
    response = send(app, "post", "/api/v1/agents", {"name": text, "type": "observer"}, key=f"u-{text}")
    assert response.status_code == 201, response.content
    agent = app.get(f"/api/v1/agents/{response.json()['id']}").json()
    assert agent["name"] == text.strip() or agent["name"] == text


def test_unknown_fields_are_400_and_write_nothing(world, app):
    before = counts()
    for method, url, body in write_endpoints(world):
        error = assert_error(send(app, method, url, {**body, "is_admin": True}), 400, "validation_error")
        assert "is_admin" in error["fields"], (url, error)
    assert counts() == before


@pytest.mark.parametrize("bad", ["not-a-uuid", "1", "00000000-0000-0000-0000-00000000000g", "' OR 1=1", "%00"])
def test_wrong_id_formats(world, app, bad):
    t = world
    before = counts()
    for url in (f"/api/v1/billing/accounts/{bad}", f"/api/v1/ads/campaigns/{bad}", f"/api/v1/agents/{bad}",
                f"/api/v1/billing/payouts/{bad}/", f"/api/v1/agents/{t.agent_id}/decisions/{bad}"):
        assert_error(app.get(url), 404)
    for method, url, body in write_endpoints(t):
        ids = [k for k, v in body.items() if k.endswith("_id") and k not in ("external_user_id", "plan_id") and v]
        for key in ids:
            assert_error(send(app, method, url, {**body, key: bad}), 400, "validation_error")
    assert_error(app.get("/api/v1/billing/subscriptions", {"account_id": bad}), (400, 404))
    if not bad.isdigit():
        assert_error(app.get("/api/v1/audit/events", {"after_sequence": bad}), 400)
    if not bad.isdigit():
        assert_error(app.get("/api/v1/ads/campaigns", {"page": bad}), (400, 404))
    assert counts() == before


def test_wrong_target_entities_are_400(world, app):
    t = world
    before = counts()
    for target in ("campaign:", "campaign:nope", f"budget:{t.campaign_id}x", "rm -rf", f"account:{t.campaign_id}"):
        body = {"domain": "ads", "action": "pause_campaign", "target_entity": target, "payload": {}}
        assert_error(send(app, "post", f"/api/v1/agents/{t.agent_id}/decisions", body), (400, 404))
    assert counts() == before
