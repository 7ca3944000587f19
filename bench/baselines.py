"""This machine's baselines, measured in the same run as the project's figures."""
from __future__ import annotations

import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from bench.harness import Context, measure
from bench.load import start_gunicorn, wrk


def _pgbench(ctx: Context, sql: str, clients: int, setup: str | None = None) -> float:
    """Transactions per second of a pgbench custom script (excluding connection time)."""
    if setup:
        with psycopg.connect(ctx.database_url, autocommit=True) as conn:
            conn.execute(setup)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:
        fh.write(sql)
    try:
        out = subprocess.run(
            ["pgbench", "-n", "-f", fh.name, "-c", str(clients), "-j", str(min(clients, 2)),
             "-T", str(max(1, int(ctx.seconds))), ctx.database_url],
            check=True, capture_output=True, text=True).stdout
    finally:
        Path(fh.name).unlink()
    return float(re.search(r"tps = ([\d.]+)", out).group(1))


_INSERT_TABLE = "CREATE TABLE IF NOT EXISTS bench_insert (id bigserial PRIMARY KEY, v integer NOT NULL)"


@measure("B_c1", unit="tx/s", description="pgbench single-row INSERT, 1 client")
def b_c1(ctx: Context) -> float:
    return _pgbench(ctx, "INSERT INTO bench_insert (v) VALUES (1);\n", 1, setup=_INSERT_TABLE)


@measure("B_c8", unit="tx/s", description="pgbench single-row INSERT, 8 clients")
def b_c8(ctx: Context) -> float:
    return _pgbench(ctx, "INSERT INTO bench_insert (v) VALUES (1);\n", 8, setup=_INSERT_TABLE)


@measure("B_rt", unit="us", higher_is_better=False, description="psycopg SELECT 1 round trip (median)")
def b_rt(ctx: Context) -> float:
    samples = []
    with psycopg.connect(ctx.database_url, autocommit=True) as conn:
        deadline = time.perf_counter() + min(ctx.seconds, 3)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            conn.execute("SELECT 1").fetchone()
            samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6


@measure("B_http", unit="req/s", description="bare Django JsonResponse under gunicorn, wrk on loopback")
def b_http(ctx: Context) -> float:
    if "bare_url" not in ctx.state:
        ctx.state["bare_url"] = start_gunicorn("bench.bare_wsgi:application")
    return wrk(ctx.state["bare_url"] + "/", ctx.seconds)
