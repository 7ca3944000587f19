"""Content-Security-Policy on the console and the API, and ``Cache-Control: no-store`` on every answer that carries
a secret shown once.

The attacks: a script injected into a console page (a stored value rendered by a bug one day) runs with the
signed-in administrator's session unless a policy forbids it; an API answer carrying a new credential's secret or a
session token is kept by a browser or a proxy cache and read later by the next user of that cache.
"""
from __future__ import annotations

import re

import pytest

from devtools.world import build_tenant
from identity.models import User
from tests.clients import APIClient, Client
from tests.identity.test_scope_matrix import ENDPOINTS, USER, requirement
from tests.reliability.test_unencodable_text import fill

pytestmark = [pytest.mark.django_db]


def policy(response) -> dict[str, list[str]]:
    header = response.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    directives = {}
    for part in filter(None, (p.strip() for p in header.split(";"))):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_strict_scripts(directives: dict[str, list[str]]) -> None:
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts and "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, directives
    assert "*" not in scripts and not any(s.startswith(("http:", "https:", "data:")) for s in scripts), directives
    assert directives.get("frame-ancestors") == ["'none'"], directives
    assert directives.get("object-src", directives.get("default-src")) in (["'none'"], ["'self'"]), directives


def assert_no_store(response) -> None:
    assert "no-store" in response.get("Cache-Control", ""), (response.request["PATH_INFO"], response.status_code,
                                                              response.get("Cache-Control"))


@pytest.fixture
def world(db):
    return build_tenant("headers")


@pytest.fixture
def staff(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_user("headers-root", role=User.Role.SUPER_ADMIN))
    return client


# --- the console ----------------------------------------------------------------------------------------------

def console_pages(world, user) -> list[str]:
    """The console's own pages, every registered model's list (and add page where there is one), and a few
    change pages with rich content (an app, an audit event's before/after)."""
    from django.contrib import admin
    from django.test import RequestFactory
    from django.urls import reverse

    from audit.models import AuditEvent

    pages = ["/admin/", "/admin/inbox/", "/admin/killswitches/", f"/admin/identity/application/{world.app_id}/change/",
             f"/admin/audit/auditevent/{AuditEvent.objects.order_by('-created_at').values_list('pk', flat=True)[0]}"
             "/change/"]
    request = RequestFactory().get("/admin/")
    request.user = user
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        pages.append(reverse("admin:{}_{}_changelist".format(*info)))
        if model_admin.has_add_permission(request):
            pages.append(reverse("admin:{}_{}_add".format(*info)))
    return pages


def test_console_pages_carry_a_strict_policy_and_no_inline_script_or_style(staff, world):
    from audit.services import audit_sequence

    audit_sequence()
    urls = console_pages(world, User.objects.get(username="headers-root"))
    assert len(urls) >= 60
    for url in urls:
        response = staff.get(url)
        assert response.status_code == 200, url
        directives = policy(response)
        assert_strict_scripts(directives)
        assert directives["script-src"] == ["'self'"] and directives["style-src"] == ["'self'"], url
        assert directives["base-uri"] == ["'none'"] and directives["form-action"] == ["'self'"], url
        html = response.content.decode()
        # What the policy would refuse is not even there: every script is a file (or JSON data), no <style>
        # element, no event-handler attribute, no javascript: link.
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, (url, tag)
        assert "<style" not in html, url
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), url
        assert "javascript:" not in html, url


def test_the_sign_in_pages_carry_the_policy_and_the_enrolment_page_is_not_stored(db):
    client = Client()
    login = client.get("/admin/login/")
    assert_strict_scripts(policy(login))
    user = User.objects.create_user("headers-new", "a-long-console-password-1", role=User.Role.ADMIN)
    client.force_login(user, verified=False)
    enrol = client.get("/admin/second-factor/enrol/")
    assert enrol.status_code == 200 and "otpauth://" in enrol.content.decode()  # the TOTP secret, shown once
    assert_strict_scripts(policy(enrol))
    assert_no_store(enrol)


# --- the API --------------------------------------------------------------------------------------------------

API_POLICY = {"default-src": ["'none'"], "frame-ancestors": ["'none'"]}


def test_every_api_answer_has_default_src_none_and_no_store(world):
    """Every GET route under /api/, with the caller it needs and real ids, and refusals too."""
    app = APIClient()
    app.credentials(HTTP_AUTHORIZATION=world.header)
    person = APIClient()
    person.credentials(HTTP_AUTHORIZATION=world.approver_header)
    owner = APIClient()
    owner.credentials(HTTP_AUTHORIZATION=world.owner_header)
    seen = 0
    for route, cls, methods in ENDPOINTS:
        if "get" not in methods:
            continue
        needed = requirement(cls)
        who = (owner if route.startswith("api/v1/apps") else person) if needed == USER else app
        response = who.get(fill(route, world))
        assert policy(response) == API_POLICY, route
        assert_no_store(response)
        seen += 1
    assert seen >= 15
    for refused in (APIClient().get("/api/v1/ads/limits"),                      # 401
                    app.post("/api/v1/agents", {"name": 1}, format="json")):     # 400
        assert refused.status_code in (400, 401)
        assert policy(refused) == API_POLICY
        assert_no_store(refused)


def test_answers_carrying_a_secret_shown_once_are_never_stored(world, otp_outbox, run_jobs):
    owner = APIClient()
    owner.credentials(HTTP_AUTHORIZATION=world.owner_header)
    created = owner.post("/api/v1/apps", {"name": "cache probe"}, format="json")
    assert created.status_code == 201 and created.json()["webhook_secret"]
    assert_no_store(created)
    app_id = created.json()["id"]
    issued = owner.post(f"/api/v1/apps/{app_id}/credentials", {"name": "c", "scopes": ["billing"]}, format="json")
    assert issued.status_code == 201 and issued.json()["secret"]
    assert_no_store(issued)
    rotated = owner.post(f"/api/v1/apps/{app_id}/webhook-secret", {}, format="json")
    assert rotated.status_code == 201 and rotated.json()["webhook_secret"]
    assert_no_store(rotated)

    anonymous = APIClient()
    started = anonymous.post("/api/v1/identity/otp/start", {"phone": "+5511987650077"}, format="json")
    run_jobs()
    verification_id = started.json()["verification_id"]
    verified = anonymous.post("/api/v1/identity/otp/verify", {
        "verification_id": verification_id, "code": otp_outbox.code_for(verification_id)}, format="json")
    assert verified.status_code in (200, 201) and verified.json()["session_token"]
    assert_no_store(verified)

    app = APIClient()
    app.credentials(HTTP_AUTHORIZATION=world.header)
    intent = app.post("/api/v1/billing/payment-intents", {"account_id": str(world.billing_account_id),
                                                          "amount": 500}, format="json",
                      HTTP_IDEMPOTENCY_KEY="cache-probe-intent")
    assert intent.status_code == 201 and "client_secret" in intent.json()
    assert_no_store(intent)
    replay = app.post("/api/v1/billing/payment-intents", {"account_id": str(world.billing_account_id),
                                                          "amount": 500}, format="json",
                      HTTP_IDEMPOTENCY_KEY="cache-probe-intent")
    assert replay["Idempotent-Replayed"] == "true"
    assert_no_store(replay)


def test_the_api_docs_page_runs_only_its_own_script_files(db):
    client = Client()
    page = client.get("/api/docs/")
    assert page.status_code == 200
    directives = policy(page)
    assert_strict_scripts(directives)
    assert directives["default-src"] == ["'none'"] and directives["connect-src"] == ["'self'"]
    html = page.content.decode()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert len(scripts) == 3 and all("src=" in tag for tag in scripts), scripts
    start = client.get(re.search(r'<script src="([^"]*script=[^"]*)"', html).group(1).replace("&amp;", "&"))
    assert start.status_code == 200 and start["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in start.content
