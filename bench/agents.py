"""Agents: latency of one autonomous decision through the whole pipeline, and decisions per second from 8 workers.

An autonomous decision here is an operator agent at autonomy level 3 pausing or resuming its own campaign: kill
switches, the agent and its policy, six risk factors (five small queries), the policy engine (an evaluation
stored), the autonomy profile, then the ads service (campaign row lock, history, audit event), the decision, its
execution log, the day counters and two audit events, in one transaction. Actions alternate, so each one changes
the campaign. Audit events are staged in the transaction and chained after the sample, as in the billing and ads
measures.

``agents_propose_p50`` / ``_p99``: one process, one decision after the other, against ``B_rt`` (a SELECT 1 round
trip). ``agents_propose_p50_history``: the same on a campaign with 100,000 earlier decisions in force (pauses and
resumes, bulk inserted as the pipeline leaves them), which should cost the same. ``agents_propose_8w``: 8 worker
processes, each deciding for its own agents (64 agents of 64 tenants), against ``B_c8`` (pgbench single-row INSERT,
8 clients).
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import timedelta

from bench.harness import ROOT, Context, measure
from bench.workers import run_workers

AGENTS = 64
WORKERS = 8
PREFIX = "bench-agent-"
HISTORY = 100_000
HISTORY_BATCH = 5_000


def _setup(ctx: Context) -> None:
    """64 tenants, each with an app, a funded ad account, a campaign and an operator agent at level 3."""
    if ctx.state.get("agents_ready"):
        return
    from ads.services import ad_account_create, budget_create, campaign_activate, campaign_create
    from agents.services.agents import agent_create, agent_policy_set
    from billing.services.ledger import ledger_post
    from governance.services.autonomy import autonomy_profile_set
    from governance.services.policies import policy_create
    from identity.models import User
    from identity.services.apps import app_create

    policy_create(name="agents bench: agents may manage ads", resource="ads", action="*", effect="allow",
                  reason="bench", active=True)
    for n in range(AGENTS):
        owner = User.objects.create_user(username=f"{PREFIX}tenant-{n}")
        app = app_create(owner=owner, name=f"{PREFIX}app-{n}")
        account = ad_account_create(tenant_id=owner.pk, user_id=owner.pk, name="bench")
        ledger_post(account_id=account.balance_account_id, type="credit", amount=1_000_000, description="bench")
        budget = budget_create(ad_account_id=account.pk, amount_total=1_000_000, name="bench")
        campaign = campaign_create(ad_account_id=account.pk, budget_id=budget.pk, name=f"{PREFIX}{n}",
                                   objective="clicks")
        campaign_activate(campaign_id=campaign.pk)
        agent = agent_create(tenant_id=owner.pk, name=f"{PREFIX}{n}", type="operator", app_id=app.pk)
        agent_policy_set(agent_id=agent.pk, domain="ads", allowed_actions=["pause_campaign", "resume_campaign"])
        autonomy_profile_set(agent_id=agent.pk, base_level=3)
    _chain_audit()
    ctx.state["agents_ready"] = True


def targets() -> list[tuple]:
    """(agent id, tenant id, app id, campaign id, next action) of every bench agent, in a stable order."""
    from ads.models import AdCampaign
    from agents.models import Agent

    agents = {a.name: a for a in Agent.objects.filter(name__startswith=PREFIX)}
    campaigns = {c.name: c for c in AdCampaign.objects.filter(name__startswith=PREFIX)}
    return [(agents[name].pk, agents[name].tenant_id, agents[name].app_id, campaigns[name].pk,
             "pause_campaign" if campaigns[name].status == "active" else "resume_campaign")
            for name in sorted(agents, key=lambda s: int(s.rsplit("-", 1)[1]))]


def propose(target: tuple, action: str):
    from agents.services.decisions import decision_propose

    agent_id, tenant_id, app_id, campaign_id, _next = target
    return decision_propose(agent_id=agent_id, tenant_id=tenant_id, app_id=app_id, domain="ads", action=action,
                            target_entity=f"campaign:{campaign_id}", payload={})


def flip(action: str) -> str:
    return "resume_campaign" if action == "pause_campaign" else "pause_campaign"


def _chain_audit() -> None:
    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "manage.py", "audit_sequencer", "--once"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _seed_history(ctx: Context, target: tuple, count: int = HISTORY) -> None:
    """``count`` earlier decisions on ``target``'s campaign, as the pipeline leaves them: executed pauses and resumes,
    alternating, each with its lifecycle in force (a standing decision lapses only when the expiry job sees its effect
    gone, and no job runs here). Copied from one real pause and resume, dated over the days before, bulk inserted, then
    the tables analyzed."""
    if ctx.state.get("agents_history_ready"):
        return
    from django.db import connection, transaction
    from django.utils import timezone

    from agents.models import AgentDecision
    from memory.models import DecisionLifecycle

    action, decisions = target[4], []
    for _ in range(2):
        decisions.append(propose(target, action))
        action = flip(action)
    ids = [d.pk for d in decisions]
    lifecycles = {lc.decision_id: lc for lc in DecisionLifecycle.objects.filter(decision_id__in=ids)}
    templates = [(d, lifecycles[d.pk]) for d in decisions]
    oldest = timezone.now() - timedelta(days=2) - timedelta(seconds=5 * count)

    def copy(obj, **changes):
        fields = {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}
        return type(obj)(**{**fields, **changes})

    for start in range(0, count, HISTORY_BATCH):
        rows, lives = [], []
        for i in range(start, min(count, start + HISTORY_BATCH)):
            decision, lifecycle = templates[i % 2]
            at = oldest + timedelta(seconds=5 * i)
            new_id = uuid.uuid4()
            rows.append(copy(decision, id=new_id, created_at=at, decided_at=at,
                             expires_at=at + (decision.expires_at - decision.created_at),
                             approval_request_id=None, shadow_execution_id=None))
            lives.append(copy(lifecycle, id=uuid.uuid4(), decision_id=new_id, created_at=at, updated_at=at))
        with transaction.atomic():
            AgentDecision.objects.bulk_create(rows)
            DecisionLifecycle.objects.bulk_create(lives)
    with connection.cursor() as cursor:  # what autovacuum does after a bulk load, now rather than in a minute
        cursor.execute(f"ANALYZE {AgentDecision._meta.db_table}, {DecisionLifecycle._meta.db_table}")
    ctx.state["agents_history_ready"] = True


def _latencies(ctx: Context, *, history: bool = False) -> list[float]:
    from django.conf import settings

    _setup(ctx)
    # The history measure decides on the second agent's campaign, so the plain one keeps its short history.
    target = targets()[1 if history else 0]
    if history:
        _seed_history(ctx, target)
        target = targets()[1]  # the campaign's state after the seeding decisions
    action = target[4]
    previous = settings.AUDIT_SEQUENCE_ON_COMMIT
    settings.AUDIT_SEQUENCE_ON_COMMIT = False
    try:
        propose(target, action)  # warm the caches
        action = flip(action)
        samples: list[float] = []
        deadline = time.perf_counter() + ctx.seconds
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            decision = propose(target, action)
            samples.append((time.perf_counter() - started) * 1e6)
            if decision.outcome != "executed":
                raise RuntimeError(f"bench decision was {decision.outcome}: {decision.reasons[-1]}")
            action = flip(action)
    finally:
        settings.AUDIT_SEQUENCE_ON_COMMIT = previous
    _chain_audit()
    return samples


def _percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] if len(samples) > 1 else samples[0]


@measure("agents_propose_p50", unit="us", higher_is_better=False, baseline="B_rt", goal=("<=", 50.0), group="agents",
         description="one autonomous decision (level 3, executed by the ads service), p50, in one process")
def agents_propose_p50(ctx: Context) -> float:
    samples = _latencies(ctx)
    ctx.state["agents_p99"] = _percentile(samples, 99)
    return statistics.median(samples)


@measure("agents_propose_p50_history", unit="us", higher_is_better=False, baseline="B_rt", goal=("<=", 50.0),
         group="agents",
         description="the same decision's p50 after 100,000 earlier decisions in force on its campaign")
def agents_propose_p50_history(ctx: Context) -> float:
    return statistics.median(_latencies(ctx, history=True))


@measure("agents_propose_p99", unit="us", higher_is_better=False, baseline="B_rt", group="agents",
         description="the same decisions' p99 (same samples as p50)")
def agents_propose_p99(ctx: Context) -> float:
    if "agents_p99" not in ctx.state:
        ctx.state["agents_p99"] = _percentile(_latencies(ctx), 99)
    return ctx.state.pop("agents_p99")


@measure("agents_propose_8w", unit="decisions/s", baseline="B_c8", goal=(">=", 0.025), group="agents",
         description="autonomous decisions from 8 worker processes, each for its own agents (64 agents)")
def agents_propose_8w(ctx: Context) -> float:
    _setup(ctx)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING", "AUDIT_SEQUENCE_ON_COMMIT": "false"}
    rate = 0.0
    for out in run_workers("bench.agents_worker", [[str(ctx.seconds), str(i), str(WORKERS)] for i in range(WORKERS)],
                           env, ctx.seconds + 120):
        executed, other, elapsed = out.split()[-3:]
        if int(other):
            raise RuntimeError(f"an agents worker had {other} decisions not executed: {out}")
        rate += int(executed) / float(elapsed)
    _chain_audit()
    return rate
