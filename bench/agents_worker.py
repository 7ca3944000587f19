"""One agents bench worker: ``python -m bench.agents_worker SECONDS INDEX WORKERS``.

Prints ``ready`` once Django is set up, waits for a line on stdin, proposes decisions for its share of the bench
agents (every WORKERS-th, starting at INDEX) for SECONDS, then prints ``<executed> <other> <elapsed seconds>``.
"""
from __future__ import annotations

import os
import sys
import time

import django


def main() -> None:
    seconds, index, workers = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prostqs.settings")
    django.setup()
    from bench.agents import flip, propose, targets

    mine = targets()[index::workers]
    actions = [t[4] for t in mine]
    print("ready", flush=True)
    sys.stdin.readline()
    executed = other = 0
    turn = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        slot = turn % len(mine)
        decision = propose(mine[slot], actions[slot])
        if decision.outcome == "executed":
            executed += 1
        else:
            other += 1
        actions[slot] = flip(actions[slot])
        turn += 1
    print(executed, other, time.perf_counter() - started, flush=True)


if __name__ == "__main__":
    main()
