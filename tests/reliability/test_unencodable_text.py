"""Text that cannot be encoded, on every way into the API and the console: a 400 in the one error shape, never a
500, and nothing written.

JSON can spell a lone UTF-16 surrogate (``"\\udfff"``): Python decodes it into a ``str`` that no UTF-8 encoder and
no PostgreSQL text or jsonb accepts. It used to reach the Idempotency-Key fingerprint (a 500 on every endpoint that
moves money) and the database. The walk below sends such a body to every POST, PUT and PATCH route under /api/
(found by walking the URL configuration, as the scope matrix does), with the credential the route needs and real
ids in its path, so every route's own checks pass up to the body.
"""
from __future__ import annotations

import base64
import re
import uuid

import pytest

from devtools.management.commands.fuzz_api import PATH_IDS
from devtools.world import build_tenant
from tests.clients import APIClient
from tests.identity.test_scope_matrix import ENDPOINTS, USER, requirement
from tests.reliability.test_bad_input import assert_error, counts

pytestmark = [pytest.mark.django_db]

WRITES = [(route, cls, m) for route, cls, methods in ENDPOINTS for m in methods if m in ("post", "put", "patch")]
# JSON texts (ASCII, as any JSON encoder writes them) holding a lone surrogate as a value, as a key, nested deep
# inside a free-form field, and a high surrogate not followed by its low half.
BODIES = {
    "value": b'{"name": "\\udfff"}',
    "key": b'{"\\udfff": 1}',
    "nested": b'{"payload": {"a": [1, {"b": "ok \\ud800 ok"}]}}',
    "high-then-text": b'{"name": "\\ud83dx"}',
}


@pytest.fixture
def world(db):
    return build_tenant("unencodable")


def fill(route: str, world) -> str:
    """The route with the world's own ids in it (the names the fuzzer maps)."""
    path = "/" + route.lstrip("^")

    def value(match: re.Match) -> str:
        name = match.group(2)
        return str(PATH_IDS[name](world, path)) if name in PATH_IDS else "probe"

    return re.sub(r"<(?:(\w+):)?(\w+)>", value, path)


def client_with(header: str | None) -> APIClient:
    client = APIClient(raise_request_exception=False)
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    return client


def caller(route: str, cls, world) -> APIClient:
    """A client holding what the route needs: the credential with every scope, or a person's session (the app's
    owner for the app pages, the approver for the rest)."""
    needed = requirement(cls)
    if needed == USER:
        return client_with(world.owner_header if route.startswith("api/v1/apps") else world.approver_header)
    return client_with(None if needed == "public" else world.header)


def test_the_walk_covers_the_api():
    assert len(WRITES) >= 25
    assert all(method in ("post", "put", "patch") for _route, _cls, method in WRITES)


@pytest.mark.parametrize("body", BODIES, ids=list(BODIES))
@pytest.mark.parametrize(("route", "cls", "method"), WRITES, ids=[f"{m} {r}" for r, _c, m in WRITES])
def test_a_lone_surrogate_in_any_write_body_is_400_and_writes_nothing(world, route, cls, method, body):
    url = fill(route, world)
    before = counts()
    response = getattr(caller(route, cls, world), method)(url, data=BODIES[body], content_type="application/json",
                                                          HTTP_IDEMPOTENCY_KEY=f"surrogate-{uuid.uuid4().hex}")
    if getattr(cls, "reads_raw_body", False):
        # Stripe's webhook reads nothing before its signature (a signed surrogate: tests/billing/test_webhooks.py).
        assert_error(response, 400, "invalid_signature")
    else:
        error = assert_error(response, 400, "parse_error")
        assert "surrogate" in error["message"]
    assert counts() == before


def test_a_lone_surrogate_is_refused_before_the_idempotency_store_keeps_anything(world):
    from billing.models import IdempotencyKey

    client = client_with(world.header)
    keys = IdempotencyKey.objects.count()
    body = (b'{"account_id": "%s", "amount": 100, "destination": {"type": "pix", "key": "\\udfff"}}'
            % str(world.billing_account_id).encode())
    first = client.post("/api/v1/billing/payouts", data=body, content_type="application/json",
                        HTTP_IDEMPOTENCY_KEY="surrogate-retry")
    assert_error(first, 400, "parse_error")
    assert IdempotencyKey.objects.count() == keys
    # The same key then serves the corrected request: the refusal kept nothing under it.
    fixed = client.post("/api/v1/billing/payouts", {"account_id": str(world.billing_account_id), "amount": 100,
                                                    "destination": {"type": "pix", "key": "ok@example.com"}},
                        format="json", HTTP_IDEMPOTENCY_KEY="surrogate-retry")
    assert fixed.status_code == 201, fixed.content[:300]


@pytest.mark.parametrize("raw", [b'{"name": "\xed\xbf\xbf"}', b'{"name": "\xff"}'], ids=["utf8-surrogate", "ff"])
def test_bytes_that_are_not_utf8_are_400(world, raw):
    client = client_with(world.header)
    before = counts()
    assert_error(client.post("/api/v1/agents", data=raw, content_type="application/json"), 400, "parse_error")
    assert counts() == before


@pytest.mark.parametrize("charset", ["utf-16", "utf-7", "rot13", "base64", "raw_unicode_escape", "latin-1"])
def test_json_in_another_charset_is_415(world, charset):
    """JSON between systems is UTF-8 (RFC 8259, section 8.1): any other charset is refused, whatever codec
    Python would have found for its name."""
    client = client_with(world.header)
    before = counts()
    body = '{"name": "agent \\udfff", "type": "operator"}'.encode("utf-16" if charset == "utf-16" else "ascii")
    response = client.post("/api/v1/agents", data=body, content_type=f"application/json; charset={charset}")
    assert_error(response, 415, "unsupported_media_type")
    assert counts() == before
    ok = client.post("/api/v1/agents", data=b'{"name": "agent", "type": "operator"}',
                     content_type="application/json; charset=UTF-8")
    assert ok.status_code == 201, ok.content[:300]


def test_an_idempotency_key_that_is_not_ascii_is_400(world):
    client = client_with(world.header)
    before = counts()
    for key in ("\udfff", "caf\xe9", "\xed\xbf\xbf"):
        response = client.post("/api/v1/billing/payouts", {"account_id": str(world.billing_account_id),
                                                           "amount": 100, "destination": {"type": "pix",
                                                                                          "key": "a@example.com"}},
                               format="json", HTTP_IDEMPOTENCY_KEY=key)
        assert_error(response, 400, "idempotency_key_invalid")
    assert counts() == before


# A WSGI server hands header bytes over decoded as ISO-8859-1, so bytes that are no UTF-8 arrive as such characters
# (never as a surrogate); inside Basic's base64 they can be anything.
@pytest.mark.parametrize("header", ["Bearer \xed\xbf\xbf", "Basic \xed\xbf\xbf",
                                    "Basic " + base64.b64encode(b"pq_pk_\xed\xbf\xbf:pq_sk_\xff").decode(),
                                    "Basic " + base64.b64encode("pq_pk_a:\udfff".encode("utf-8", "surrogatepass"))
                                    .decode()])
def test_credentials_that_cannot_be_decoded_are_401(world, header):
    client = client_with(header)
    before = counts()
    assert_error(client.get("/api/v1/ads/limits"), 401)
    assert_error(client.post("/api/v1/agents", {"name": "a", "type": "operator"}, format="json"), 401)
    assert counts() == before


def test_undecodable_query_strings_and_path_segments_never_answer_500(world):
    """Percent-encoded bytes that are no UTF-8 (the only way a client can send a surrogate in a URL) reach the
    views as replacement characters or as the raw escape: a 4xx in the error shape, or the ordinary answer."""
    client = client_with(world.header)
    user = client_with(world.approver_header)
    reads = [(route, cls) for route, cls, methods in ENDPOINTS if "get" in methods]
    before = counts()
    for route, cls in reads:
        url = fill(route, world)
        who = user if requirement(cls) == USER else client
        for bad in ("%ED%BF%BF", "%FF", "%C0%AF"):
            response = who.get(f"{url}?page={bad}&status={bad}&external_user_id={bad}&{bad}={bad}")
            assert response.status_code < 500, (url, bad, response.content[:300])
            if response.status_code >= 400:
                assert_error(response, response.status_code)
        segments = [s for s in url.split("/") if s]
        for i, segment in enumerate(segments):
            if segment in ("api", "v1"):
                continue
            broken = "/" + "/".join([*segments[:i], "%ED%BF%BF" + segment, *segments[i + 1:]])
            response = who.get(broken)
            assert response.status_code < 500, (broken, response.content[:300])
            if response.status_code >= 400:
                assert_error(response, response.status_code)
    assert counts() == before
