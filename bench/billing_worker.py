"""One bench worker: ``python -m bench.billing_worker spread|hot|transfer SECONDS SEED``.

Prints ``ready`` once Django is set up, waits for a line on stdin, posts credits through ``ledger_post`` (or, with
``transfer``, moves money between two random accounts through ``ledger_transfer``) for SECONDS, then prints
``<postings or transfers> <elapsed seconds>``.
"""
from __future__ import annotations

import os
import random
import sys
import time

import django


def main() -> None:
    mode, seconds, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prostqs.settings")
    django.setup()
    from bench.billing import ACCOUNTS, HOT, account_uuid, transfer_account_uuid
    from billing.services.ledger import ledger_post, ledger_transfer

    if mode == "transfer":
        transfers(seconds, random.Random(seed), [transfer_account_uuid(n) for n in range(1, ACCOUNTS + 1)],
                  ledger_transfer)
        return
    ids = [account_uuid(HOT)] if mode == "hot" else [account_uuid(n) for n in range(1, ACCOUNTS + 1)]
    rng = random.Random(seed)
    ledger_post(account_id=ids[0], type="credit", amount=1, description="bench warm-up")  # connect, warm caches
    print("ready", flush=True)
    sys.stdin.readline()
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        ledger_post(account_id=rng.choice(ids), type="credit", amount=rng.randint(1, 100), description="bench")
        count += 1
    print(count, time.perf_counter() - started, flush=True)


def transfers(seconds: float, rng: random.Random, ids: list, ledger_transfer) -> None:
    ledger_transfer(from_account_id=ids[0], to_account_id=ids[1], amount=1, description="bench warm-up")
    print("ready", flush=True)
    sys.stdin.readline()
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        source, target = rng.sample(ids, 2)
        ledger_transfer(from_account_id=source, to_account_id=target, amount=rng.randint(1, 100), description="bench")
        count += 1
    print(count, time.perf_counter() - started, flush=True)


if __name__ == "__main__":
    main()
