"""Security matrices generated from the URL configuration, and the production security headers.

* Scope matrix: every endpoint under /api/v1/ by every credential scope (a credential holding only that scope):
  a caller without the endpoint's scope gets 403; every endpoint must be classified (tests/identity has the
  same walk for the error codes; this one uses a fully built tenant so the calls reach real objects).
* Cross-tenant matrix: every endpoint that names an object (in its path, or in its body or query for the
  collection endpoints listed in BODY_REFERENCES) is called with tenant A's ids and tenant B's credentials (B's
  all-scope app credential, or B's owner session for user endpoints): 404, no data of A in the answer, and
  nothing written. An endpoint that takes a path parameter this test cannot fill, or a collection endpoint that is
  in neither BODY_REFERENCES nor NO_TENANT_INPUT, fails the test: a new endpoint cannot escape the matrix.
"""
from __future__ import annotations

import json
import re

import pytest
from django.apps import apps
from django.test import override_settings

from devtools.world import ALL_SCOPES, build_tenant
from tests.clients import APIClient, Client
from tests.identity.test_scope_matrix import USER, api_endpoints, requirement

pytestmark = [pytest.mark.django_db]

ENDPOINTS = api_endpoints()

# Path parameter → the attribute of a Tenant (devtools.world) that fills it, per route prefix when ambiguous.
PARAMS = {
    "session_id": lambda t, route: t.app_session_id if route.startswith("api/v1/app/") else t.owner_session_id,
    "app_id": lambda t, route: t.app_id,
    "credential_id": lambda t, route: t.credential_id,
    "external_user_id": lambda t, route: t.external_user_id,
    "request_id": lambda t, route: t.approval_request_id,
    "account_id": lambda t, route: t.ad_account_id if route.startswith("api/v1/ads/") else t.billing_account_id,
    "intent_id": lambda t, route: t.intent_id,
    "payout_id": lambda t, route: t.payout_id,
    "subscription_id": lambda t, route: t.subscription_id,
    "budget_id": lambda t, route: t.budget_id,
    "campaign_id": lambda t, route: t.campaign_id,
    "agent_id": lambda t, route: t.agent_id,
    "domain": lambda t, route: "ads",
    "decision_id": lambda t, route: t.decision_id,
    "suggestion_id": lambda t, route: t.suggestion_id,
    "verification_id": lambda t, route: t.verification_id,
}

# Valid bodies, so that a refusal can only come from the object's tenant (never from validation first).
BODIES = {
    ("api/v1/apps/<uuid:app_id>/credentials", "post"): {"name": "stolen", "scopes": ["billing"]},
    ("api/v1/app/users/<text:external_user_id>/links", "post"): {"provider": "google", "provider_id": "g-1"},
    ("api/v1/app/users/<text:external_user_id>/verifications", "post"): {"channel": "sms"},
    ("api/v1/app/users/<text:external_user_id>/verifications/<uuid:verification_id>/confirm", "post"): {
        "code": "123456"},
    ("api/v1/governance/approvals/<uuid:request_id>/decisions", "post"): {
        "decision": "approved", "justification": "Approving someone else's request."},
    ("api/v1/ads/budgets/<uuid:budget_id>", "patch"): {"amount_total": 3_000_000},
    ("api/v1/ads/campaigns/<uuid:campaign_id>/spend", "post"): {"amount": 100, "quantity": 1, "unit": "click"},
    ("api/v1/agents/<uuid:agent_id>", "patch"): {"status": "suspended", "reason": "cross-tenant"},
    ("api/v1/agents/<uuid:agent_id>/policies/<text:domain>", "put"): {"allowed_actions": ["pause_campaign"]},
    ("api/v1/agents/<uuid:agent_id>/decisions", "post"): {
        "domain": "ads", "action": "pause_campaign", "target_entity": "campaign:{campaign_id}", "payload": {}},
    ("api/v1/observer/suggestions/<uuid:suggestion_id>/decisions", "post"): {
        "decision": "ignored", "reason": "not mine"},
}

# Collection endpoints whose body or query names another object: (method, body or query) with A's ids.
BODY_REFERENCES = {
    "api/v1/app/users": ("post", {"external_user_id": "stolen", "user_id": "{user_id}"}),
    "api/v1/app/sessions": ("post", {"external_user_id": "{external_user_id}"}),
    "api/v1/billing/accounts": ("post", {"user_id": "{user_id}"}),
    "api/v1/billing/payment-intents": ("post", {"account_id": "{billing_account_id}", "amount": 100}),
    "api/v1/billing/payouts": ("post", {"account_id": "{billing_account_id}", "amount": 100,
                                        "destination": {"type": "pix", "key": "thief@example.com"}}),
    "api/v1/billing/subscriptions": ("post", {"account_id": "{billing_account_id}", "plan_id": "p", "amount": 100,
                                              "interval": "month"}),
    "api/v1/billing/refunds": ("post", {"entry_id": "{credit_entry_id}", "amount": 100}),
    # Tenant A's customer's account, as the source and the target: tenant B moves none of its money.
    "api/v1/billing/transfers": ("post", {"transfers": [{"from_account_id": "{billing_account_id}",
                                                         "to_account_id": "{billing_account_id}", "amount": 100}]}),
    "api/v1/ads/accounts": ("post", {"name": "stolen", "user_id": "{user_id}"}),
    "api/v1/ads/budgets": ("post", {"ad_account_id": "{ad_account_id}", "amount_total": 100}),
    "api/v1/ads/campaigns": ("post", {"ad_account_id": "{ad_account_id}", "budget_id": "{budget_id}",
                                      "name": "stolen", "objective": "clicks"}),
    "api/v1/agents": ("post", {"name": "stolen", "type": "operator", "app_id": "{app_id}"}),
    "api/v1/observer/suggestions": ("post", {"agent_id": "{observer_id}", "confidence": 0.5, "finding": "x",
                                             "suggestion": "y", "snapshot": {}}),
}
QUERY_REFERENCES = {
    "api/v1/billing/subscriptions": {"account_id": "{billing_account_id}"},
    "api/v1/ads/budgets": {"ad_account_id": "{ad_account_id}"},
    "api/v1/ads/campaigns": {"ad_account_id": "{ad_account_id}"},
}
# Collection endpoints that take no object of anyone else: lists of the caller's own, sign-in, webhooks.
NO_TENANT_INPUT = {
    "api/v1/identity/otp/start", "api/v1/identity/otp/verify", "api/v1/identity/me", "api/v1/identity/me/profile",
    "api/v1/identity/sessions", "api/v1/identity/logout", "api/v1/apps", "api/v1/audit/events",
    "api/v1/governance/approvals", "api/v1/governance/reviews", "api/v1/billing/webhooks/stripe", "api/v1/ads/limits",
    "api/v1/observer/inbox",
}
# Approval requests are not a tenant's objects: they belong to the people holding decision authorities, and a
# person without one is refused the decision (403 no_authority) and sees nothing of the request (its GET is 404).
REFUSED = {("api/v1/governance/approvals/<uuid:request_id>/decisions", "post"): (403, "no_authority")}
# Tables a refused request may touch: the audit trail, and the caller's own idempotency record of its 404 answer
# (a replay of the same key answers the same 404).
MAY_WRITE = {"audit.StagedEvent", "audit.AuditEvent", "billing.IdempotencyKey"}


def _params(route: str) -> list[str]:
    return re.findall(r"<(?:\w+:)?(\w+)>", route)


def _fill(route: str, tenant) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1)
        assert name in PARAMS, f"{route}: no way to fill <{name}> with another tenant's object; add it to PARAMS"
        return str(PARAMS[name](tenant, route))

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", value, route)


def _format(value, tenant):
    if isinstance(value, str):
        return value.format(**{k: str(v) for k, v in vars(tenant).items() if not isinstance(v, dict)})
    if isinstance(value, dict):
        return {k: _format(v, tenant) for k, v in value.items()}
    if isinstance(value, list):
        return [_format(v, tenant) for v in value]
    return value


def _counts() -> dict[str, int]:
    return {m._meta.label: m._default_manager.count() for m in apps.get_models()
            if m._meta.label not in MAY_WRITE}


def _client(header: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    return client


@pytest.fixture
def two_tenants(db):
    return build_tenant("a"), build_tenant("b")


def _a_ids(tenant) -> set[str]:
    return {str(v) for k, v in vars(tenant).items() if k.endswith("_id") and v is not None}


def test_every_endpoint_is_in_the_cross_tenant_matrix():
    for route, _cls, _methods in ENDPOINTS:
        if _params(route):
            for name in _params(route):
                assert name in PARAMS, f"{route}: path parameter <{name}> is not in the cross-tenant matrix"
        else:
            assert (route in BODY_REFERENCES) != (route in NO_TENANT_INPUT), (
                f"{route}: classify it in BODY_REFERENCES (names objects in its body) or NO_TENANT_INPUT")


def test_every_request_body_of_the_matrix_names_an_endpoint():
    """A body keyed by a route that no longer exists (a renamed converter, a moved URL) would go unused."""
    routes = {(route, method) for route, _cls, methods in ENDPOINTS for method in methods}
    assert set(BODIES) <= routes, sorted(set(BODIES) - routes)


def test_cross_tenant_matrix(two_tenants):
    a, b = two_tenants
    app_b, user_b = _client(b.header), _client(b.owner_header)
    secrets_of_a = _a_ids(a) - {str(a.approval_request_id)}
    before = _counts()
    calls = 0
    for route, cls, methods in ENDPOINTS:
        needed = requirement(cls)
        if needed == "public":
            continue
        client = user_b if needed == USER else app_b
        if _params(route):
            url = _fill(route, a)
            for method in methods:
                body = _format(BODIES.get((route, method), {}), a)
                response = getattr(client, method)(url, body, format="json",
                                                   HTTP_IDEMPOTENCY_KEY=f"cross-{route}-{method}")
                calls += 1
                where = f"{method.upper()} {url} with tenant B's credentials"
                if (route, method) in REFUSED:
                    status, code = REFUSED[(route, method)]
                    assert response.status_code == status, where
                    assert response.json()["error"]["code"] == code and str(a.agent_id) not in str(response.json())
                    continue
                assert response.status_code == 404, f"{where}: {response.status_code} {response.content[:300]}"
                assert set(response.json()) == {"error"}, where
        if route in BODY_REFERENCES:
            method, body = BODY_REFERENCES[route]
            response = getattr(client, method)("/" + route, _format(body, a), format="json",
                                               HTTP_IDEMPOTENCY_KEY=f"cross-{route}")
            calls += 1
            assert response.status_code == 404, f"{method.upper()} /{route}: {response.status_code} {response.content}"
        if route in QUERY_REFERENCES:
            response = client.get("/" + route, _format(QUERY_REFERENCES[route], a))
            calls += 1
            leaked = secrets_of_a & set(re.findall(r"[0-9a-f-]{36}", response.content.decode()))
            assert response.status_code in (200, 404) and not leaked, f"GET /{route} leaked {leaked}"
        if route in NO_TENANT_INPUT and "get" in methods and not _params(route):
            response = client.get("/" + route)
            calls += 1
            leaked = secrets_of_a & set(re.findall(r"[0-9a-f-]{36}", response.content.decode()))
            assert not leaked, f"GET /{route} as tenant B shows tenant A's ids {leaked}"
    assert _counts() == before, "a cross-tenant request wrote something"
    print(f"cross-tenant matrix: {calls} requests, every one refused or empty of tenant A's data")
    assert calls >= 45


def test_scope_matrix_with_real_objects(db):
    """A credential holding only one scope, on the tenant's own objects: 403 wherever another scope is needed."""
    a = build_tenant("scopes")
    before = _counts()
    for scope in ALL_SCOPES:
        _scope_row(a, scope)
    assert _counts() == before


def _scope_row(a, scope: str) -> None:
    client = _client(a.scope_headers[scope])
    for route, cls, methods in ENDPOINTS:
        needed = requirement(cls)
        if needed in ("public", scope):
            continue
        url = _fill(route, a) if _params(route) else "/" + route
        for method in methods:
            body = _format(BODIES.get((route, method)) or BODY_REFERENCES.get(route, (None, {}))[1], a)
            response = getattr(client, method)(url, body, format="json")
            assert response.status_code == 403, f"{method.upper()} {url} with only {scope}: {response.status_code}"
            assert response.json()["error"]["code"] in ("scope_required", "signed_in_user_required")


@override_settings(SECURE_HSTS_SECONDS=31536000, SECURE_HSTS_INCLUDE_SUBDOMAINS=True, SECURE_HSTS_PRELOAD=True,
                   SECURE_SSL_REDIRECT=True, SECURE_REDIRECT_EXEMPT=[r"^healthz$"])
@pytest.mark.parametrize("path", ["/healthz", "/api/v1/ads/limits", "/api/schema/", "/admin/login/"])
def test_security_headers_in_production(path):
    response = Client().get(path, secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    plain = Client().get(path)
    if path != "/healthz":
        assert plain.status_code == 301 and plain["Location"].startswith("https://")


def test_error_bodies_never_echo_a_credential(two_tenants):
    a, _b = two_tenants
    secret = a.header.split()[1]
    response = APIClient().get("/api/v1/ads/limits", HTTP_AUTHORIZATION=a.header[:-4] + "AAA=")
    assert response.status_code == 401
    assert secret[:20] not in json.dumps(response.json())
