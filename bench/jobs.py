"""The jobs queue: no-op jobs per second with 4 worker processes (``run_jobs``), batched and single claims.

Each sample fills the queue with more no-op jobs than the workers can finish, starts 4 ``run_jobs`` processes,
waits until all of them are up, and counts the jobs that reach ``done`` during the sample. Every job is a real
claim (``SKIP LOCKED``), a real transaction that marks it done (one commit per job) and the kill switch check.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import psycopg

from bench.harness import ROOT, Context, measure

WORKERS = 4
QUEUE_PER_SECOND = 12000  # jobs queued per second of sample: far above what 2 cores can finish


def _fill(url: str, n: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE jobs, dead_letter_jobs")
        conn.execute(
            "INSERT INTO jobs (id, type, payload, status, priority, attempts, max_attempts, last_error, next_run_at,"
            " locked_by, created_at, updated_at)"
            " SELECT gen_random_uuid(), 'noop', '{}'::jsonb, 'pending', 0, 0, 1, '', now(), '', now(), now()"
            " FROM generate_series(1, %s)", [n])
        conn.execute("VACUUM ANALYZE jobs")


def _done(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM jobs WHERE status = 'done'").fetchone()[0]


def _pending(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM jobs WHERE status = 'pending'").fetchone()[0]


def _throughput(ctx: Context, batch_size: int) -> float:
    _fill(ctx.database_url, int(QUEUE_PER_SECOND * ctx.seconds) + 5000)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING"}
    procs = [subprocess.Popen([sys.executable, "manage.py", "run_jobs", "--batch-size", str(batch_size),
                               "--poll", "0.01", "--reap-every", "3600", "--name", f"bench-{i}"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(WORKERS)]
    try:
        for proc in procs:  # each prints its banner once Django is set up and it starts claiming
            line = proc.stdout.readline()
            if not line.startswith("Jobs runner"):
                raise RuntimeError(f"run_jobs did not start: {line}{proc.stdout.read()}")
        started, before = time.perf_counter(), _done(ctx.database_url)
        time.sleep(ctx.seconds)
        after, elapsed = _done(ctx.database_url), time.perf_counter() - started
        if _pending(ctx.database_url) == 0:
            raise RuntimeError("the queue ran dry during the sample: raise QUEUE_PER_SECOND")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
    return (after - before) / elapsed


@measure("jobs_noop_4w", unit="jobs/s", baseline="B_c8", goal=(">=", 0.25), group="jobs",
         description="no-op jobs done per second, 4 run_jobs workers, batched claims (10 per claim)")
def jobs_noop_4w(ctx: Context) -> float:
    return _throughput(ctx, batch_size=10)


@measure("jobs_noop_4w_single", unit="jobs/s", baseline="B_c8", group="jobs",
         description="the same with single claims (one job per claim statement)")
def jobs_noop_4w_single(ctx: Context) -> float:
    return _throughput(ctx, batch_size=1)
