#!/usr/bin/env python3
"""The reliability figures of a CI run, from the JSON written by prod_run.py and fault_injection.py."""
from __future__ import annotations

import json
import sys
from pathlib import Path


def main(prod: str, faults: str) -> int:
    p = json.loads(Path(prod).read_text())
    f = json.loads(Path(faults).read_text())
    fuzz, workload = p.get("fuzz", {}), p.get("workload", {})
    five_xx = fuzz.get("five_xx", 0) + workload.get("five_xx", 0) + p.get("gunicorn_5xx", 0)
    figures = {
        "requests fuzzed": fuzz.get("requests_fuzzed", 0),
        "workload steps": workload.get("steps", 0),
        "faults injected": f.get("faults_injected", 0),
        "invariant checks run": p.get("invariant_checks", 0) + f.get("invariant_checks", 0),
        "5xx seen (fuzzing, workload, production-shaped run)": five_xx,
        "503 answered while PostgreSQL was down (then retried: all committed once)": f.get("pg_statuses", {})
        .get("503", 0),
        "application role: append-only writes and trigger switches refused": p.get("database_roles", {})
        .get("refused", 0),
        "ledger credit forged as the application role, caught by": ", ".join(
            p.get("forgery", {}).get("caught_by", [])) or "NOT CAUGHT",
    }
    print("reliability figures:")
    for name, value in figures.items():
        print(f"  {name}: {value}")
    return 0 if p.get("ok") and f.get("ok") and five_xx == 0 else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
