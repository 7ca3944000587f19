"""Tenants as an attacker meets them: each with an application holding every scope, driven over HTTP.

Set-up that is not the story itself (creating the tenant, its agent and its allow policy) goes through the services;
everything a tenant does to a person goes through the API, as the stories in this package are about the API.
"""
from __future__ import annotations

import base64
import itertools
import uuid
from urllib.parse import quote

import pytest

from tests.clients import APIClient

_counter = itertools.count(1)
ALL_SCOPES = ["identity", "billing", "ads", "agents", "observer", "audit"]
PIX = {"type": "pix", "key": "pix-receiver@example.com"}


class ApiTenant:
    """A tenant whose owner signed up by phone, with one application and a credential holding every scope."""

    def __init__(self, label: str, *, owner_phone: str, webhook_url: str = "", owner=None) -> None:
        from identity.services.apps import app_create, credential_issue
        from identity.services.users import identity_get_or_create

        self.label = label
        self.owner = owner or identity_get_or_create(phone=owner_phone, source="otp", verified=True)[0]
        self.app = app_create(owner=self.owner, name=f"{label} app {next(_counter)}", webhook_url=webhook_url)
        issued = credential_issue(app=self.app, name="server", scopes=ALL_SCOPES)
        self.header = "Basic " + base64.b64encode(f"{issued.credential.public_key}:{issued.secret}".encode()).decode()
        self.client = APIClient()
        self.client.credentials(HTTP_AUTHORIZATION=self.header)

    def sibling(self, label: str) -> ApiTenant:
        """Another application of the same tenant (owner)."""
        return ApiTenant(label, owner_phone="", owner=self.owner)

    # --- calls ------------------------------------------------------------------------------------------------------

    def call(self, method: str, path: str, body: dict | None = None, *, key: str | None = None):
        headers = {"HTTP_IDEMPOTENCY_KEY": key or f"{self.label}-{next(_counter)}"} if method == "post" else {}
        handler = getattr(self.client, method)
        if body is None:
            return handler(f"/api/v1/{path}", **headers)
        if method == "get":
            return handler(f"/api/v1/{path}", body, **headers)
        return handler(f"/api/v1/{path}", body, format="json", **headers)

    def post(self, path: str, body: dict | None = None, **kwargs):
        return self.call("post", path, body or {}, **kwargs)

    def get(self, path: str, query: dict | None = None):
        return self.call("get", path, query)

    def link(self, external_user_id: str, *, phone: str | None = None, user_id=None):
        body = {"external_user_id": external_user_id}
        body.update({"phone": phone} if phone else {"user_id": str(user_id)})
        return self.post("app/users", body)

    def ext(self, external_user_id: str) -> str:
        return quote(external_user_id)

    # --- set-up through the services ---------------------------------------------------------------------------------

    def agent(self, *, allowed: dict[str, list[str]]):
        """An agent of this app at full autonomy whose policies allow ``allowed`` ({domain: actions})."""
        from agents.services.agents import agent_create, agent_policy_set
        from governance.services.autonomy import autonomy_profile_set

        agent = agent_create(tenant_id=self.owner.pk, name=f"{self.label} agent {next(_counter)}", type="executor",
                             app_id=self.app.pk)
        for domain, actions in allowed.items():
            agent_policy_set(agent_id=agent.pk, domain=domain, allowed_actions=actions)
        autonomy_profile_set(agent_id=agent.pk, base_level=3)
        return agent

    def propose(self, agent, domain: str, action: str, target: str, payload: dict | None = None):
        return self.post(f"agents/{agent.pk}/decisions", {"domain": domain, "action": action, "target_entity": target,
                                                          "payload": payload or {}})


@pytest.fixture
def make_tenant(db):
    def make(label: str, *, webhook_url: str = "") -> ApiTenant:
        n = next(_counter)
        return ApiTenant(label, owner_phone=f"+55319{n % 10**8:08d}", webhook_url=webhook_url)

    return make


@pytest.fixture
def allow_everything(db):
    """A governance policy allowing every agent action (the stories are about tenants, not about policies)."""
    from governance.policy_engine import policy_cache
    from governance.services.policies import policy_create

    policy_create(name=f"allow all {uuid.uuid4().hex[:6]}", resource="*", action="*", effect="allow",
                  reason="security stories: policies are not what they test", conditions=[], priority=0, active=True)
    policy_cache.invalidate()
    yield
    policy_cache.invalidate()


@pytest.fixture
def confirm_payment():
    """The provider confirms a payment intent (the local provider's path, as its webhook would)."""

    def confirm(intent_id):
        from billing.models import PaymentIntent
        from billing.services.webhooks import payment_intent_local_succeed

        payment_intent_local_succeed(intent=PaymentIntent.objects.get(pk=intent_id))
        return PaymentIntent.objects.get(pk=intent_id)

    return confirm


def counts(*, ignore: set[str] = frozenset()) -> dict[str, int]:
    """Rows per model, but for the audit trail and idempotency records (which a refused request may write)."""
    from django.apps import apps

    skip = {"audit.StagedEvent", "audit.AuditEvent", "billing.IdempotencyKey", *ignore}
    return {m._meta.label: m._default_manager.count() for m in apps.get_models() if m._meta.label not in skip}
