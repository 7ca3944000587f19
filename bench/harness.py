"""The bench harness: measures registered here run in interleaved rounds in one process, so that the
project's figures and this machine's baselines are taken under the same load and compared as ratios.

A measure is a function returning one number per round. Project measures name the baseline they are
compared with; the report gives min/median/max of the measure and of the per-round ratio. Within a round each
of this machine's baselines runs just before the first measure compared with it, so that a ratio's two samples are
taken close together: this machine's speed drifts over minutes, and baselines all taken at the start of a
6-minute round left minutes between the two.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent

# One set of HTTP worker settings for the bare baseline and for every project HTTP measure.
HTTP_WORKERS = int(os.environ.get("BENCH_HTTP_WORKERS", "4"))
HTTP_CONNECTIONS = int(os.environ.get("BENCH_HTTP_CONNECTIONS", "16"))


@dataclass
class Measure:
    name: str
    unit: str
    fn: Callable[[Context], float]
    description: str
    higher_is_better: bool = True
    baseline: str | None = None
    # (ratio comparison, target): e.g. (">=", 1.5) means project/baseline should be at least 1.5.
    goal: tuple[str, float] | None = None
    group: str = "baseline"
    values: list[float] = field(default_factory=list)


@dataclass
class Context:
    """What every measure can use: the bench database URL and how long to run each sample."""

    database_url: str
    seconds: float
    state: dict = field(default_factory=dict)


REGISTRY: dict[str, Measure] = {}


def measure(name: str, *, unit: str, description: str, higher_is_better: bool = True,
            baseline: str | None = None, goal: tuple[str, float] | None = None, group: str = "baseline"):
    def register(fn: Callable[[Context], float]) -> Callable[[Context], float]:
        if name in REGISTRY:
            raise ValueError(f"bench measure {name!r} registered twice")
        REGISTRY[name] = Measure(name, unit, fn, description, higher_is_better, baseline, goal, group)
        return fn

    return register


def _stats(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)} if values else {}


def _goal_met(goal: tuple[str, float] | None, ratio: float | None) -> bool | None:
    if goal is None or ratio is None:
        return None
    op, target = goal
    return ratio >= target if op == ">=" else ratio <= target


def paired_order(measures: list[Measure]) -> list[Measure]:
    """``measures`` in their order, with each of this machine's baselines (group ``baseline``) moved to just before
    the first measure compared with it. Project measures keep their order: some share one sample per round (the
    audit append run, the governance evaluations) and a measure that is another's baseline comes before it."""
    names = {m.name for m in measures}
    first_dependent: dict[str, str] = {}
    for m in measures:
        if m.baseline in names:
            first_dependent.setdefault(m.baseline, m.name)
    moved = {m.name: m for m in measures if m.group == "baseline" and m.name in first_dependent}
    ordered: list[Measure] = []
    for m in measures:
        if m.name in moved:
            continue
        ordered.extend(base for name, base in moved.items() if first_dependent[name] == m.name)
        ordered.append(m)
    return ordered


def run(measures: list[Measure], ctx: Context, rounds: int, log: Callable[[str], None] = print) -> dict:
    """Run every measure once per round, rounds interleaved (in ``paired_order``), and build the report (in the
    order given)."""
    for r in range(1, rounds + 1):
        for m in paired_order(measures):
            started = time.perf_counter()
            value = m.fn(ctx)
            m.values.append(value)
            log(f"  round {r}/{rounds}  {m.name:<32} {value:>12.3f} {m.unit}  ({time.perf_counter() - started:.1f}s)")
    by_name = {m.name: m for m in measures} | {n: REGISTRY[n] for n in REGISTRY if REGISTRY[n].values}
    results = []
    for m in measures:
        row = {"name": m.name, "group": m.group, "unit": m.unit, "description": m.description,
               "higher_is_better": m.higher_is_better, "values": m.values, **_stats(m.values)}
        base = by_name.get(m.baseline) if m.baseline else None
        if base is not None and base.values:
            ratios = [v / b for v, b in zip(m.values, base.values, strict=False) if b]
            row["baseline"] = m.baseline
            row["ratio"] = _stats(ratios)
            if m.goal:
                row["goal"] = f"{m.goal[0]} {m.goal[1]} x {m.baseline}"
                row["goal_met"] = _goal_met(m.goal, row["ratio"]["median"])
        results.append(row)
    return {
        "taken_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "rounds": rounds,
        "seconds_per_sample": ctx.seconds,
        "http": {"workers": HTTP_WORKERS, "connections": HTTP_CONNECTIONS},
        "results": results,
    }


def render(report: dict) -> str:
    lines = [
        f"PROST-QS bench - {report['taken_at']} - {report['machine']['cpus']} CPUs - "
        f"{report['rounds']} interleaved rounds of {report['seconds_per_sample']}s",
        "",
        f"{'measure':<34}{'unit':<10}{'min':>12}{'median':>12}{'max':>12}   ratio (min / median / max)   goal",
    ]
    group = None
    for row in report["results"]:
        if row["group"] != group:
            group = row["group"]
            lines.append(f"-- {group}")
        ratio = row.get("ratio")
        ratio_text = (f"{ratio['min']:.2f} / {ratio['median']:.2f} / {ratio['max']:.2f} x {row['baseline']}"
                      if ratio else "")
        goal = ""
        if "goal" in row:
            goal = f"{row['goal']}: {'met' if row['goal_met'] else 'NOT MET'}"
        lines.append(f"{row['name']:<34}{row['unit']:<10}{row['min']:>12.3f}{row['median']:>12.3f}"
                     f"{row['max']:>12.3f}   {ratio_text:<29}{goal}")
    return "\n".join(lines)


def write(report: dict) -> None:
    (BENCH_DIR / "results.json").write_text(json.dumps(report, indent=2))
    (BENCH_DIR / "results.txt").write_text(render(report) + "\n")
