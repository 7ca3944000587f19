"""Policy evaluation latency with 20 and 200 active policies, against a SELECT 1 round trip (B_rt).

The policy sets are spread over 10 resources x 4 actions, with 5% of them wildcards (``*`` / ``*``) whose conditions
fail, as global guards do most of the time. Each policy has two conditions (an amount threshold and a currency
list). The evaluated request hits one (resource, action) bucket: with 20 policies 2 candidates, with 200 policies
15, walked in precedence order until the first match. Evaluation is in-process on the cached compiled set
(``record=False``); the periodic fingerprint check (one aggregate query every POLICY_CACHE_CHECK_MS) happens inside
the timed calls, as it would in production. ``governance_eval_recorded_p50`` adds the stored ``policy_evaluations``
row (one INSERT) for comparison.
"""
from __future__ import annotations

import statistics
import time

from bench.harness import Context, measure

RESOURCES = [f"res{i}" for i in range(10)]
ACTIONS = [f"act{j}" for j in range(4)]
EFFECTS = ["allow", "deny", "require_approval"]
CONTEXT = {"amount": 50_000, "currency": "BRL", "agent": {"type": "operator", "id": "a-1"}, "hour": 14}
QUERY = ("res3", "act1")


def _spec(size: int, index: int) -> dict:
    wildcard = index % 20 == 19
    return {
        "name": f"bench{size}-{index:03d}",
        "resource": "*" if wildcard else RESOURCES[index % 10],
        "action": "*" if wildcard else ACTIONS[(index // 10) % 4],
        "effect": EFFECTS[index % 3],
        "priority": (index * 7) % 50,
        "reason": "bench policy",
        # The wildcards' guard never holds for any context of this run, whatever the time: a guard on the clock
        # (night hours) matched every other measure's decisions from 00:00 to 05:59 and denied them.
        "conditions": ([{"field": "currency", "op": "in", "value": ["XAU", "XAG", "XPT"]}] if wildcard else
                       [{"field": "amount", "op": "gt", "value": 10_000 * (index % 9)},
                        {"field": "currency", "op": "in", "value": ["BRL", "USD", "EUR"]}]),
    }


def _use_set(ctx: Context, size: int) -> None:
    """Create both sets once (inactive), then make exactly ``size``'s set active."""
    from django.utils import timezone

    from governance.models import Policy
    from governance.policy_engine import policy_cache
    from governance.services.policies import policy_create

    if "governance_sets" not in ctx.state:
        for n in (20, 200):
            for i in range(n):
                policy_create(**_spec(n, i), active=False)
        ctx.state["governance_sets"] = True
        ctx.state["governance_active"] = None
    if ctx.state["governance_active"] != size:
        # Bench setup only: a bulk switch (with updated_at, so every process's fingerprint changes) instead of 220
        # audited service calls per round.
        now = timezone.now()
        Policy.objects.filter(name__regex=r"^bench[0-9]+-").update(active=False, updated_at=now)
        Policy.objects.filter(name__startswith=f"bench{size}-").update(active=True, updated_at=now)
        policy_cache.invalidate()
        ctx.state["governance_active"] = size
    # Other measures' policies (other resources) may be active in the same run; this set must be exactly ``size``.
    assert Policy.objects.filter(active=True, name__regex=r"^bench[0-9]+-").count() == size


def _latencies(ctx: Context, size: int, *, record: bool = False) -> list[float]:
    from django.db import transaction

    from governance.services.policies import policy_evaluate

    _use_set(ctx, size)
    resource, action = QUERY
    policy_evaluate(resource=resource, action=action, context=CONTEXT, record=False)  # warm the cache
    samples: list[float] = []
    deadline = time.perf_counter() + ctx.seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        if record:
            with transaction.atomic():
                policy_evaluate(resource=resource, action=action, context=CONTEXT, record=True)
        else:
            policy_evaluate(resource=resource, action=action, context=CONTEXT, record=False)
        samples.append((time.perf_counter() - started) * 1e6)
    return samples


def _percentile(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1] if len(samples) > 1 else samples[0]


def _run(ctx: Context, size: int) -> None:
    samples = _latencies(ctx, size)
    ctx.state[f"governance_p50_{size}"] = statistics.median(samples)
    ctx.state[f"governance_p99_{size}"] = _percentile(samples, 99)
    ctx.state[f"governance_n_{size}"] = len(samples)


def _take(ctx: Context, key: str, size: int) -> float:
    if key not in ctx.state:
        _run(ctx, size)
    return ctx.state.pop(key)


@measure("governance_eval_p50_20", unit="us", higher_is_better=False, baseline="B_rt", goal=("<=", 0.5),
         group="governance", description="policy evaluation p50, 20 active policies (in-process, cached)")
def eval_p50_20(ctx: Context) -> float:
    _run(ctx, 20)
    return ctx.state.pop("governance_p50_20")


@measure("governance_eval_p99_20", unit="us", higher_is_better=False, baseline="B_rt", group="governance",
         description="policy evaluation p99, 20 active policies (same samples as p50)")
def eval_p99_20(ctx: Context) -> float:
    return _take(ctx, "governance_p99_20", 20)


@measure("governance_eval_p50_200", unit="us", higher_is_better=False, baseline="B_rt", goal=("<=", 0.5),
         group="governance", description="policy evaluation p50, 200 active policies (in-process, cached)")
def eval_p50_200(ctx: Context) -> float:
    _run(ctx, 200)
    value = ctx.state.pop("governance_p50_200")
    ctx.state["governance_scaling_200"] = value
    return value


@measure("governance_eval_p99_200", unit="us", higher_is_better=False, baseline="B_rt", group="governance",
         description="policy evaluation p99, 200 active policies (same samples as p50)")
def eval_p99_200(ctx: Context) -> float:
    return _take(ctx, "governance_p99_200", 200)


@measure("governance_eval_200_vs_20", unit="us", higher_is_better=False, baseline="governance_eval_p50_20",
         goal=("<=", 3.0), group="governance",
         description="the 200-policy p50 of this round, as a ratio to the 20-policy p50")
def eval_scaling(ctx: Context) -> float:
    if "governance_scaling_200" not in ctx.state:
        _run(ctx, 200)
        ctx.state["governance_scaling_200"] = ctx.state.pop("governance_p50_200")
    return ctx.state.pop("governance_scaling_200")


@measure("governance_eval_recorded_p50", unit="us", higher_is_better=False, baseline="B_rt", group="governance",
         description="policy evaluation p50 with its policy_evaluations row stored (one INSERT), 200 policies")
def eval_recorded(ctx: Context) -> float:
    return statistics.median(_latencies(ctx, 200, record=True))
