"""Fixtures for the ads tests: tenants with app credentials, funded ad accounts, budgets and campaigns."""
from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.utils import timezone

from tests.clients import APIClient

_counter = itertools.count(1)


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
        client.credentials(HTTP_AUTHORIZATION=self.header)
        return client


def make_tenant_now(*, scopes=("ads",)) -> Tenant:
    from identity.models import User
    from identity.services.apps import app_create, credential_issue

    owner = User.objects.create_user(username=f"ads-tenant-{next(_counter)}-{timezone.now().timestamp()}")
    app = app_create(owner=owner, name=f"Ads app {next(_counter)}")
    issued = credential_issue(app=app, name="test", scopes=list(scopes))
    return Tenant(owner=owner, app=app, header=basic(issued.credential.public_key, issued.secret))


def make_customer_now(tenant: Tenant, *, proven: bool = True):
    """A person linked to the tenant's app by phone and, unless ``proven`` is False, proven (a staff attestation,
    the documented equivalent of the person's own code): an advertiser the app may spend for."""
    from identity.services.apps import app_user_attest, app_user_link

    n = next(_counter)
    app_user, _ = app_user_link(app=tenant.app, external_user_id=f"advertiser-{n}",
                                phone=f"+55219{n % 100_000_000:08d}")
    if proven:
        app_user = app_user_attest(app_user=app_user, actor=None, reason="checked by a test")
    return app_user.user


@dataclass
class Setup:
    tenant: Tenant
    account: object
    budget: object
    campaign: object

    def refresh(self) -> Setup:
        for obj in (self.account, self.budget, self.campaign):
            obj.refresh_from_db()
        return self


def make_setup_now(*, tenant: Tenant | None = None, balance: int = 100_000, amount_total: int = 10_000,
                   period: str = "lifetime", activate: bool = True) -> Setup:
    from ads.services import ad_account_create, budget_create, campaign_activate, campaign_create
    from billing.services.ledger import ledger_post

    tenant = tenant or make_tenant_now()
    account = ad_account_create(tenant_id=tenant.id, user_id=make_customer_now(tenant).pk,
                                name=f"Account {next(_counter)}", app=tenant.app)
    if balance:  # the tenant's own funds in the advertiser's account: what its spends may draw on
        ledger_post(account_id=account.balance_account_id, type="credit", amount=balance, description="funding",
                    tenant_id=tenant.id)
    budget = budget_create(ad_account_id=account.pk, amount_total=amount_total, period=period, name="budget")
    campaign = campaign_create(ad_account_id=account.pk, budget_id=budget.pk, name=f"Campaign {next(_counter)}",
                               objective="clicks")
    if activate:
        campaign = campaign_activate(campaign_id=campaign.pk)
    return Setup(tenant=tenant, account=account, budget=budget, campaign=campaign).refresh()


@pytest.fixture
def make_tenant(db):
    return make_tenant_now


@pytest.fixture
def make_setup(db):
    return make_setup_now


@pytest.fixture
def make_customer(db):
    return make_customer_now


@pytest.fixture
def halt(db):
    """Turn a global kill switch on (``ads``, ``all``, ``billing``…) through the infrastructure service."""
    from infrastructure.services.killswitches import killswitch_activate

    def activate(scope: str = "ads") -> None:
        killswitch_activate(scope, reason="test halt", actor=None)

    return activate


@pytest.fixture
def lift(db):
    from infrastructure.services.killswitches import killswitch_deactivate

    def deactivate(scope: str = "ads") -> None:
        killswitch_deactivate(scope, reason="test over", actor=None)

    return deactivate


@pytest.fixture
def run_jobs():
    """Run due queued jobs through their registered handlers, as a worker would; returns how many ran."""
    from infrastructure.models import Job
    from infrastructure.services.jobs import job_type

    def run(*types: str, now=None) -> int:
        ran = 0
        while True:
            jobs = Job.objects.filter(status=Job.Status.PENDING, next_run_at__lte=now or timezone.now())
            if types:
                jobs = jobs.filter(type__in=types)
            job = jobs.order_by("next_run_at", "created_at").first()
            if job is None:
                return ran
            job_type(job.type).handler(job)
            Job.objects.filter(pk=job.pk).update(status=Job.Status.DONE, attempts=job.attempts + 1)
            ran += 1

    return run


@pytest.fixture
def clock(monkeypatch):
    """Move the services' clock (``django.utils.timezone.now``) forward."""
    from datetime import timedelta

    real_now = timezone.now

    class Clock:
        offset = timedelta(0)

        def advance(self, **delta) -> None:
            self.offset += timedelta(**delta)

        def now(self):
            return real_now() + self.offset

    state = Clock()
    monkeypatch.setattr(timezone, "now", lambda: real_now() + state.offset)
    return state


def snapshot() -> dict:
    """Row counts of every table, and the state of every money-bearing row: to prove nothing else was written."""
    from ads.models import AdBudget, AdCampaign, AdTenantDailySpend
    from billing.models import BillingAccount

    counts = {m._meta.label: m._default_manager.count() for m in apps.get_models()}
    return {
        "counts": counts,
        "balances": dict(BillingAccount.objects.values_list("pk", "balance")),
        "budgets": {b.pk: (b.amount_spent, b.amount_total, b.status, b.closed_at)
                    for b in AdBudget.objects.all()},
        "campaigns": {c.pk: (c.total_spent, c.status, c.budget_id) for c in AdCampaign.objects.all()},
        "daily": dict(AdTenantDailySpend.objects.values_list("pk", "amount_spent")),
    }


def diff_counts(before: dict, after: dict) -> dict:
    keys = set(before["counts"]) | set(after["counts"])
    return {k: after["counts"].get(k, 0) - before["counts"].get(k, 0) for k in keys
            if after["counts"].get(k, 0) != before["counts"].get(k, 0)}


# A refused spend writes its failed event and the audit event that records the refusal, and nothing else.
ONLY_THE_FAILED_EVENT = {"ads.AdSpendEvent": 1, "audit.StagedEvent": 1}
