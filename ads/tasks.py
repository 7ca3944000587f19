"""Celery beat entry of the ads app (``ads.budgets_rollover``): it only queues the sweep job (the jobs table is the
queue), once at a time."""
from __future__ import annotations

from celery import shared_task
from django.db import transaction

from ads.jobs import ROLLOVER_SWEEP_JOB
from infrastructure.models import Job
from infrastructure.services.jobs import job_enqueue


@shared_task(name="ads.budgets_rollover", ignore_result=True)
def budgets_rollover() -> bool:
    """Queue the rollover sweep unless one is already waiting or running. Returns whether it queued one."""
    with transaction.atomic():
        if Job.objects.filter(type=ROLLOVER_SWEEP_JOB, status__in=[Job.Status.PENDING,
                                                                   Job.Status.PROCESSING]).exists():
            return False
        job_enqueue(ROLLOVER_SWEEP_JOB)
        return True
