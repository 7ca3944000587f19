#!/usr/bin/env python
"""`make bench`: this machine's baselines and the project's figures, interleaved, as ratios.

    python bench/run.py [--rounds 5] [--seconds 5] [--only B_c1,audit_append_8]

Needs PostgreSQL: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/prostqs_bench) is
dropped and recreated on every run. Writes bench/results.json and bench/results.txt.
"""
from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402 - after the path is set

# Modules that register measures, baselines first. Each project area adds its module here.
MODULES = ["bench.baselines", "bench.audit", "bench.jobs", "bench.identity", "bench.governance", "bench.billing",
           "bench.ads", "bench.agents", "bench.evidence"]


def _recreate_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", 5)))
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", 5)))
    parser.add_argument("--only", help="comma-separated measure names (their baselines are added)")
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/prostqs_bench")
    _recreate_database(url)
    env = {"DATABASE_URL": url, "DEBUG": "false", "REDIS_URL": os.environ.get("BENCH_REDIS_URL", ""),
           "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-" + "k7Qx9vLm2pR4tY8wZ1bN6cF3hJ5dS0gA" * 2),
           "SECURE_SSL_REDIRECT": "false", "ALLOWED_HOSTS": "127.0.0.1,localhost",
           "SECRETS_MASTER_KEYS": os.environ.get("SECRETS_MASTER_KEYS",
                                                 "bench:YmVuY2gtb25seS1tYXN0ZXIta2V5LTMyLWJ5dGVzISE=")}
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prostqs.settings")
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, check=True)
    import django

    django.setup()
    for module in MODULES:
        importlib.import_module(module)

    measures = list(harness.REGISTRY.values())
    if args.only:
        wanted = {n.strip() for n in args.only.split(",")}
        wanted |= {m.baseline for m in measures if m.name in wanted and m.baseline}
        measures = [m for m in measures if m.name in wanted]
    ctx = harness.Context(database_url=url, seconds=args.seconds)
    print(f"bench: {len(measures)} measures x {args.rounds} rounds on {url}")
    report = harness.run(measures, ctx, args.rounds)
    harness.write(report)
    print()
    print(harness.render(report))
    print(f"\nwritten: {harness.BENCH_DIR / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
