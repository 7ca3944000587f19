"""One ads bench worker: ``python -m bench.ads_worker spread|hot SECONDS SEED``.

Prints ``ready`` once Django is set up, waits for a line on stdin, spends through ``campaign_spend`` for SECONDS,
then prints ``<spends> <elapsed seconds>``.
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
    from ads.services import campaign_spend
    from bench.ads import HOT, TENANTS, campaign_uuid

    ids = [campaign_uuid(HOT)] if mode == "hot" else [campaign_uuid(n) for n in range(1, TENANTS + 1)]
    rng = random.Random(seed)
    campaign_spend(campaign_id=ids[0], amount=1, quantity=1, unit="click")  # connect, warm caches
    print("ready", flush=True)
    sys.stdin.readline()
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        campaign_spend(campaign_id=rng.choice(ids), amount=rng.randint(1, 100), quantity=rng.randint(1, 1000),
                       unit="impression")
        count += 1
    print(count, time.perf_counter() - started, flush=True)


if __name__ == "__main__":
    main()
