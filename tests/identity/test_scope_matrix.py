"""Every API endpoint by every scope: out of scope is 403.

The endpoints are found by walking the URL configuration under /api/v1/, so an endpoint added later cannot escape
the matrix: each one must require a scope (``scope_required``), a signed-in user (``IsSignedInUser``), or be in the
short list of public endpoints below.
"""
from __future__ import annotations

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from identity.models import Scope
from identity.permissions import IsSignedInUser

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]

# The Stripe webhook authenticates by its signature (Stripe-Signature), not by an app credential.
PUBLIC = {"/api/v1/identity/otp/start", "/api/v1/identity/otp/verify", "/api/v1/billing/webhooks/stripe"}
METHODS = ("get", "post", "put", "patch", "delete")
USER = "signed-in user"


def _walk(patterns, prefix: str):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def _fill(route: str) -> str:
    def value(match: re.Match) -> str:
        converter = match.group(1) or "str"
        return {"uuid": str(uuid.uuid4()), "int": "1"}.get(converter, "matrix-probe")

    return "/" + re.sub(r"<(?:(\w+):)?\w+>", value, route)


# Under /api/ but not the API itself: the schema and its docs page, and the catch-all that answers 404.
NOT_ENDPOINTS = {"api/schema/", "api/docs/", "^api/"}


def api_endpoints():
    """Every route of the URL configuration under api/ (any version), but ``NOT_ENDPOINTS``."""
    found = []
    for route, callback in _walk(get_resolver().url_patterns, ""):
        if not route.lstrip("^").startswith("api/") or route in NOT_ENDPOINTS:
            continue
        cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        assert cls is not None, f"{route} is not a class-based API view"
        actions = getattr(callback, "actions", None)
        methods = sorted(actions) if actions else [m for m in METHODS if hasattr(cls, m)]
        found.append((route, cls, methods))
    return found


def requirement(cls) -> str:
    scopes = [p.required_scope for p in cls.permission_classes if getattr(p, "required_scope", None)]
    if scopes:
        assert len(scopes) == 1, f"{cls.__name__} requires several scopes"
        return scopes[0]
    if IsSignedInUser in cls.permission_classes:
        return USER
    return "public"


ENDPOINTS = api_endpoints()


def test_every_endpoint_is_classified():
    public = {_fill(route) for route, cls, _methods in ENDPOINTS if requirement(cls) == "public"}
    assert public == PUBLIC, "an API endpoint requires neither a scope nor a signed-in user"
    assert len(ENDPOINTS) >= 17


@pytest.fixture
def callers(make_app, user_client):
    """A client per scope (a credential holding only that scope) and one for a signed-in user."""
    clients = {}
    for scope in Scope.values:
        _app, _cred, header = make_app(scopes=[scope])
        from tests.clients import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        clients[scope] = client
    clients[USER] = user_client()[0]
    return clients


@pytest.mark.parametrize(("route", "cls", "methods"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_scope_matrix(route, cls, methods, callers):
    needed = requirement(cls)
    url = _fill(route)
    for method in methods:
        for caller, client in callers.items():
            response = getattr(client, method)(url, {}, format="json")
            where = f"{method.upper()} {url} as {caller}"
            if needed == "public":
                assert response.status_code not in (401, 403), where
            elif caller == needed:
                assert response.status_code not in (401, 403), f"{where}: {response.content[:200]}"
            else:
                assert response.status_code == 403, f"{where}: {response.status_code}"
                expected = "signed_in_user_required" if needed == USER else (
                    "app_credentials_required" if caller == USER else "scope_required")
                assert response.json()["error"]["code"] == expected, where


@pytest.mark.parametrize(("route", "cls", "methods"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_without_credentials_every_non_public_endpoint_is_401(route, cls, methods, api_client):
    if requirement(cls) == "public":
        return
    for method in methods:
        response = getattr(api_client, method)(_fill(route), {}, format="json")
        assert response.status_code == 401, f"{method} {route}"
        assert response["WWW-Authenticate"]
