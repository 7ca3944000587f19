"""Celery tasks: the production drivers of the jobs queue (beat entries in ``CELERY_BEAT_SCHEDULE``).

The jobs table is the queue; these tasks only say "go and claim". Losing or repeating one of them loses nothing:
a repeated dispatch claims with ``SKIP LOCKED`` like any other worker, and a dispatch whose process dies leaves its
jobs under a lease that the reaper returns to the queue.
"""
from __future__ import annotations

import time

from celery import shared_task
from django.conf import settings

from audit.context import scope
from infrastructure.services.jobs import jobs_reap_expired
from infrastructure.services.killswitches import killswitch_expire_due
from infrastructure.worker import JobWorker, worker_name


@shared_task(name="infrastructure.jobs_dispatch", ignore_result=True)
def jobs_dispatch(budget_seconds: float | None = None, batch_size: int | None = None) -> int:
    """Claim and run due jobs until none is due or the time budget is spent. Returns how many ran."""
    budget = settings.JOBS_DISPATCH_SECONDS if budget_seconds is None else budget_seconds
    worker = JobWorker(name=worker_name("celery"), batch_size=batch_size)
    with scope(actor_type="system", actor_id=None, app_id=None):
        return worker.run(until=time.monotonic() + budget, stop_when_idle=True, upkeep=False)


@shared_task(name="infrastructure.jobs_reap", ignore_result=True)
def jobs_reap() -> int:
    with scope(actor_type="system", actor_id=None, app_id=None):
        return jobs_reap_expired()


@shared_task(name="infrastructure.killswitches_expire", ignore_result=True)
def killswitches_expire() -> int:
    with scope(actor_type="system", actor_id=None, app_id=None):
        return killswitch_expire_due()
