"""Ads: spends per second through ``campaign_spend``, against billing's posting baselines (B_led, B_hot).

A spend is a posting and more: the tenant's limits row, the budget and the campaign locked, the ledger posting
(B_led's whole shape), then the spend event, the budget, campaign and daily counters and two audit events, in one
transaction. ``ads_spend_8w`` runs 8 worker processes over 2,000 tenants (one campaign each, so they rarely meet on
a lock, like B_led's 10,000 accounts); ``ads_spend_hot_8w`` puts all 8 on one campaign, where every spend queues on
the same tenant, budget and billing account (like B_hot).
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

import psycopg

from bench.harness import ROOT, Context, measure
from bench.workers import run_workers

TENANTS = 2_000
HOT = TENANTS + 1
WORKERS = 8
FUNDS = 100_000_000_000  # cents (the largest posting): no spend is refused for funds or budget in a run
PREFIX = "00000000-0000-4000-9000-"


def campaign_uuid(n: int) -> uuid.UUID:
    return uuid.UUID(f"{PREFIX}{n:012d}")


def _setup(ctx: Context) -> None:
    """Tenants with a funded ad account, a lifetime budget and an active campaign, written in bulk.

    The funding is one ledger entry per account (sequence 1) of the tenant itself, with the tenant's funds row, so the
    ledger invariant holds from the start and every spend draws on the tenant's own funds (``billing.tenancy``).
    """
    if ctx.state.get("ads_tenants"):
        return
    from django.utils import timezone

    from ads.models import AdAccount, AdBudget, AdCampaign, AdGovernanceLimit
    from billing.models import BillingAccount, LedgerEntry, TenantFunds
    from identity.models import User

    now = timezone.now()
    users = User.objects.bulk_create([User(username=f"bench-ads-{n}") for n in range(1, HOT + 1)], batch_size=2000)
    billing = BillingAccount.objects.bulk_create(
        [BillingAccount(user=u, balance=FUNDS, last_sequence=1) for u in users], batch_size=2000)
    LedgerEntry.objects.bulk_create([LedgerEntry(account=b, type="credit", amount=FUNDS, balance_after=FUNDS,
                                                 sequence=1, description="bench funding", tenant=u,
                                                 tenant_balance_after=FUNDS, created_at=now)
                                     for u, b in zip(users, billing, strict=True)], batch_size=2000)
    TenantFunds.objects.bulk_create([TenantFunds(account=b, tenant=u, balance=FUNDS)
                                     for u, b in zip(users, billing, strict=True)], batch_size=2000)
    accounts = AdAccount.objects.bulk_create([AdAccount(tenant=u, user=u, balance_account=b, name="bench")
                                              for u, b in zip(users, billing, strict=True)], batch_size=2000)
    AdGovernanceLimit.objects.bulk_create([AdGovernanceLimit(tenant=u) for u in users], batch_size=2000)
    budgets = AdBudget.objects.bulk_create([AdBudget(ad_account=a, amount_total=FUNDS, period="lifetime",
                                                     period_start=now) for a in accounts], batch_size=2000)
    AdCampaign.objects.bulk_create([AdCampaign(id=campaign_uuid(n), ad_account=a, budget=b, name="bench",
                                               objective="clicks", status="active")
                                    for n, (a, b) in enumerate(zip(accounts, budgets, strict=True), start=1)],
                                   batch_size=2000)
    with psycopg.connect(ctx.database_url, autocommit=True) as conn:
        for table in ("users", "billing_accounts", "ledger_entries", "billing_tenant_funds", "ad_accounts",
                      "ad_governance_limits",
                      "ad_budgets", "ad_campaigns"):
            conn.execute(f"VACUUM ANALYZE {table}")
    ctx.state["ads_tenants"] = True


def _spends(ctx: Context, mode: str, *, audit: str = "deferred") -> float:
    """Spends per second of 8 worker processes calling ``campaign_spend`` (started, then released together).

    Audit events are staged in the spend's transaction in both variants; as in billing's measures, ``deferred``
    chains them after the sample (``AUDIT_SEQUENCE_ON_COMMIT=false``: what the spend path itself sustains) and
    ``on_commit`` has every process chain after its own commit (the default setting).
    """
    _setup(ctx)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING",
           "AUDIT_SEQUENCE_ON_COMMIT": "true" if audit == "on_commit" else "false"}
    rate = 0.0
    for out in run_workers("bench.ads_worker", [[mode, str(ctx.seconds), str(i)] for i in range(WORKERS)], env,
                           ctx.seconds + 120):
        count, elapsed = out.split()[-2:]
        rate += int(count) / float(elapsed)
    # Chain whatever is still staged, outside the measured time, so no sample starts with a backlog.
    subprocess.run([sys.executable, "manage.py", "audit_sequencer", "--once"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return rate


@measure("ads_spend_8w", unit="spends/s", baseline="B_led", goal=(">=", 0.35), group="ads",
         description="campaign_spend, 8 worker processes, random campaigns of 2,000 tenants (audit chained after)")
def ads_spend_8w(ctx: Context) -> float:
    return _spends(ctx, "spread")


@measure("ads_spend_hot_8w", unit="spends/s", baseline="B_hot", group="ads",
         description="campaign_spend, 8 worker processes, all on one campaign (audit chained after)")
def ads_spend_hot_8w(ctx: Context) -> float:
    return _spends(ctx, "hot")


@measure("ads_spend_8w_chain_on_commit", unit="spends/s", baseline="B_led", group="ads",
         description="the same over 2,000 tenants, each process chaining audit events after its commit")
def ads_spend_8w_chain_on_commit(ctx: Context) -> float:
    return _spends(ctx, "spread", audit="on_commit")
