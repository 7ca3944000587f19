"""Fixtures for the agents tests: tenants with app credentials, agents with policies and autonomy, governance
policies, approvers with a session, funded ad campaigns and billing accounts, and the jobs worker."""
from __future__ import annotations

import base64
import itertools
import uuid
from dataclasses import dataclass, field

import pytest
from django.utils import timezone

from tests.clients import APIClient

_counter = itertools.count(1)
ALL_SCOPES = ("agents", "observer", "ads", "billing")


def basic(public_key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{public_key}:{secret}".encode()).decode()


@dataclass
class Tenant:
    owner: object
    app: object
    header: str

    @property
    def id(self):
        return self.owner.pk

    def client(self) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=self.header, HTTP_USER_AGENT="agent-test/1.0")
        return client


def make_tenant_now(*, scopes=ALL_SCOPES) -> Tenant:
    from identity.models import User
    from identity.services.apps import app_create, credential_issue

    owner = User.objects.create_user(username=f"agents-tenant-{next(_counter)}-{uuid.uuid4().hex[:8]}")
    app = app_create(owner=owner, name=f"Agents app {next(_counter)}")
    issued = credential_issue(app=app, name="test", scopes=list(scopes))
    return Tenant(owner=owner, app=app, header=basic(issued.credential.public_key, issued.secret))


def make_agent_now(tenant: Tenant, *, type: str = "operator", level: int | None = 3, policies: dict | None = None,
                   name: str | None = None, **autonomy):
    """An agent of ``tenant`` with its policies ({domain: fields}) and, unless ``level`` is None, an autonomy
    profile at ``level`` (extra keyword arguments go to the profile)."""
    from agents.services.agents import agent_create, agent_policy_set
    from governance.services.autonomy import autonomy_profile_set

    agent = agent_create(tenant_id=tenant.id, name=name or f"agent-{next(_counter)}", type=type, app_id=tenant.app.pk)
    for domain, values in (policies or {}).items():
        agent_policy_set(agent_id=agent.pk, domain=domain, **values)
    if level is not None:
        autonomy_profile_set(agent_id=agent.pk, base_level=level, **autonomy)
    return agent


@dataclass
class Ads:
    tenant: Tenant
    account: object
    budget: object
    campaign: object

    def refresh(self) -> Ads:
        for obj in (self.account, self.budget, self.campaign):
            obj.refresh_from_db()
        return self


def make_customer_now(tenant: Tenant, *, proven: bool = True):
    """A person linked to the tenant's app by phone and, unless ``proven`` is False, proven (a staff attestation,
    the documented equivalent of the person's own code): the app and its agents may act on them."""
    from identity.services.apps import app_user_attest, app_user_link

    number = next(_counter)
    app_user, _created = app_user_link(app=tenant.app, external_user_id=f"customer-{number}",
                                       phone=f"+55119{number % 10**8:08d}")
    if proven:
        app_user = app_user_attest(app_user=app_user, actor=None, reason="checked by a test")
    return app_user.user


def make_ads_now(tenant: Tenant, *, balance: int = 500_000, amount_total: int = 100_000) -> Ads:
    from ads.services import ad_account_create, budget_create, campaign_activate, campaign_create
    from billing.services.ledger import ledger_post

    account = ad_account_create(tenant_id=tenant.id, user_id=make_customer_now(tenant).pk,
                                name=f"Account {next(_counter)}", app=tenant.app)
    if balance:  # the tenant's own funds in the advertiser's account
        ledger_post(account_id=account.balance_account_id, type="credit", amount=balance, description="funding",
                    tenant_id=tenant.id)
    budget = budget_create(ad_account_id=account.pk, amount_total=amount_total, name="budget")
    campaign = campaign_create(ad_account_id=account.pk, budget_id=budget.pk, name=f"Campaign {next(_counter)}",
                               objective="clicks")
    campaign = campaign_activate(campaign_id=campaign.pk)
    return Ads(tenant=tenant, account=account, budget=budget, campaign=campaign).refresh()


def make_billing_account_now(tenant: Tenant, *, balance: int = 0, proven: bool = True):
    """The billing account of a new user of the tenant (linked to its app by phone and proven unless ``proven`` is
    False), holding ``balance`` cents of the tenant's funds."""
    from billing.services.accounts import account_open
    from billing.services.ledger import ledger_post

    account, _created = account_open(user=make_customer_now(tenant, proven=proven))
    if balance:
        ledger_post(account_id=account.pk, type="credit", amount=balance, description="opening balance",
                    tenant_id=tenant.id)
    account.refresh_from_db()
    return account


def allow_policy_now(resource: str = "*", action: str = "*", *, effect: str = "allow", conditions=None,
                     priority: int = 0, name: str | None = None):
    from governance.services.policies import policy_create

    return policy_create(name=name or f"test policy {next(_counter)}", resource=resource, action=action,
                         effect=effect, reason=f"test: {effect} {resource}.{action}", conditions=conditions or [],
                         priority=priority, active=True)


@pytest.fixture(autouse=True)
def _fresh_policy_cache():
    from governance.policy_engine import policy_cache

    policy_cache.invalidate()
    yield
    policy_cache.invalidate()


@pytest.fixture
def make_tenant(db):
    return make_tenant_now


@pytest.fixture
def make_agent(db):
    return make_agent_now


@pytest.fixture
def make_ads(db):
    return make_ads_now


@pytest.fixture
def make_billing_account(db):
    return make_billing_account_now


@pytest.fixture
def policy(db):
    return allow_policy_now


@pytest.fixture
def tenant(make_tenant):
    return make_tenant()


@dataclass
class Proposer:
    """Posts proposals for one agent over the API and returns (status, body)."""

    tenant: Tenant
    agent: object
    client: APIClient = field(default=None)

    def __post_init__(self):
        self.client = self.client or self.tenant.client()

    def url(self, decision_id=None) -> str:
        base = f"/api/v1/agents/{self.agent.pk}/decisions"
        return base if decision_id is None else f"{base}/{decision_id}"

    def propose(self, domain: str, action: str, target: str, payload: dict | None = None, *, key: str | None = None,
                **extra):
        headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
        body = {"domain": domain, "action": action, "target_entity": target, "payload": payload or {}, **extra}
        return self.client.post(self.url(), body, format="json", **headers)

    def get(self, decision_id):
        return self.client.get(self.url(decision_id))


@pytest.fixture
def proposer():
    return Proposer


@pytest.fixture
def approver(db):
    """A person holding a decision authority over ads and billing up to critical impact."""
    from governance.services.authorities import authority_grant
    from identity.models import User

    granter = User.objects.create_user(f"agents-granter-{next(_counter)}", role=User.Role.SUPER_ADMIN)
    user = User.objects.create_user(f"agents-approver-{next(_counter)}")
    authority_grant(user=user, role="tech_lead", scopes=["ads", "billing"], max_impact="critical", granted_by=granter)
    return user


@pytest.fixture
def signed_in(db):
    """An API client holding a session token of ``user``."""
    from identity.services.sessions import session_open

    def make(user, *, user_agent: str = "console-test/2.0") -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {session_open(user=user).token}", HTTP_USER_AGENT=user_agent)
        return client

    return make


@pytest.fixture
def decide(signed_in):
    """Decide an approval request through the governance API, as ``user``."""

    def run(user, request_id, decision: str = "approved",
            justification: str = "Checked the agent's reasons and the target."):
        response = signed_in(user).post(f"/api/v1/governance/approvals/{request_id}/decisions",
                                        {"decision": decision, "justification": justification}, format="json")
        assert response.status_code == 201, response.json()
        return response.json()

    return run


@pytest.fixture
def run_jobs():
    """Claim and run due jobs through the jobs service (the worker's path); returns how many ran."""
    from infrastructure.services.jobs import job_execute, jobs_claim

    def run(*types: str, now=None) -> int:
        ran = 0
        while True:
            claimed = jobs_claim(worker="agents-test", limit=1, types=list(types) if types else None,
                                 now=now or timezone.now())
            if not claimed:
                return ran
            assert job_execute(claimed[0], worker="agents-test") == "done"
            ran += 1

    return run


@pytest.fixture
def halt(db):
    from infrastructure.services.killswitches import killswitch_activate

    def activate(scope: str = "agents") -> None:
        killswitch_activate(scope, reason="test halt", actor=None)

    return activate


def codes(body: dict) -> list[str]:
    return [r["code"] for r in body["reasons"]]


def error_code(response) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]["code"]
