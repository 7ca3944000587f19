"""Text that cannot be stored, typed into the console's forms: the form says so, and nothing is written.

A form post cannot carry a lone UTF-16 surrogate in its own encoding (bytes that are no UTF-8 are decoded as
replacement characters), but a JSON field of a form can spell one (``"\\udfff"``); it used to reach PostgreSQL,
which refused it: a 500 page.
"""
from __future__ import annotations

import uuid

import pytest
from django.apps import apps

from identity.models import User
from tests.clients import Client

pytestmark = [pytest.mark.django_db]
SURROGATE = '"\\udfff"'  # the JSON escape, as typed into the field


def counts() -> dict[str, int]:
    skip = {"audit.StagedEvent", "audit.AuditEvent", "sessions.Session", "otp_totp.TOTPDevice"}
    return {m._meta.label: m._default_manager.count() for m in apps.get_models() if m._meta.label not in skip}


@pytest.fixture
def console(db) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(User.objects.create_user("console-root", role=User.Role.SUPER_ADMIN))
    return client


def json_forms(console) -> list[tuple[str, dict, str]]:
    """(add page, a valid post but for one JSON field, that field) for the console's editable JSON fields."""
    from identity.services.apps import app_create

    owner = User.objects.create_user(f"owner-{uuid.uuid4().hex[:6]}")
    app = app_create(owner=owner, name="console app")
    grantee = User.objects.create_user(f"grantee-{uuid.uuid4().hex[:6]}")
    return [
        ("/admin/governance/policy/add/", {
            "name": "surrogate-policy", "resource": "ledger", "action": "debit", "effect": "deny", "priority": "5",
            "conditions": f'[{{"field": "amount", "op": "eq", "value": {SURROGATE}}}]', "reason": "r",
            "active": "on"}, "conditions"),
        ("/admin/governance/autonomyprofile/add/", {
            "agent_id": str(uuid.uuid4()), "base_level": "2", "action_overrides": f"{{{SURROGATE}: 0}}",
            "max_daily_actions": "10"}, "action_overrides"),
        ("/admin/governance/decisionauthority/add/", {
            "user": str(grantee.pk), "role": "finance_officer", "title": "", "scopes": f"[{SURROGATE}]",
            "max_impact": "low", "reason": "r"}, "scopes"),
        ("/admin/agents/riskconfig/add/", {
            "app": str(app.pk), "custom_weights": f'{{"amount": 1, "note": {SURROGATE}}}', "thresholds": "{}"},
         "custom_weights"),
    ]


def test_a_lone_surrogate_in_any_console_json_field_is_a_form_error_and_writes_nothing(console):
    cases = json_forms(console)
    before = counts()
    for url, data, field in cases:
        response = console.post(url, data)
        assert response.status_code == 200, (url, response.status_code)
        errors = response.context["adminform"].form.errors
        assert field in errors and "surrogate" in str(errors[field]), (url, errors)
    assert counts() == before


def test_every_editable_json_field_of_the_console_refuses_it():
    """The guard is the console's, not each form's: every JSON field of every registered model admin has it."""
    from django.contrib import admin
    from django.db.models import JSONField

    from console.site import StorableJSONField

    registered = [model_admin for model_admin in admin.site._registry.values()
                  if any(isinstance(f, JSONField) for f in model_admin.model._meta.get_fields())]
    assert len(registered) >= 5
    for model_admin in registered:
        for db_field in (f for f in model_admin.model._meta.get_fields() if isinstance(f, JSONField)):
            form_field = model_admin.formfield_for_dbfield(db_field, request=None)
            assert isinstance(form_field, StorableJSONField), (model_admin, db_field.name)


def test_bytes_that_are_no_utf8_in_a_form_post_are_read_as_replacement_characters(console):
    body = (b"name=bytes-%ED%BF%BF&resource=ledger&action=debit&effect=deny&priority=5&conditions=%5B%5D"
            b"&reason=r&active=on")
    response = console.post("/admin/governance/policy/add/", data=body,
                            content_type="application/x-www-form-urlencoded")
    assert response.status_code == 302
    from governance.models import Policy

    assert Policy.objects.filter(name__startswith="bytes-").get().name == "bytes-\ufffd\ufffd\ufffd"
