"""Celery beat entry of the agents app (``agents.risk_recompute``): it only queues the recomputation job (the
jobs table is the queue), once at a time."""
from __future__ import annotations

from celery import shared_task
from django.db import transaction

from agents.jobs import RISK_RECOMPUTE_JOB
from infrastructure.models import Job
from infrastructure.services.jobs import job_enqueue


@shared_task(name="agents.risk_recompute", ignore_result=True)
def risk_recompute() -> bool:
    """Queue the recomputation unless one is already waiting or running. Returns whether it queued one."""
    with transaction.atomic():
        if Job.objects.filter(type=RISK_RECOMPUTE_JOB, status__in=[Job.Status.PENDING,
                                                                   Job.Status.PROCESSING]).exists():
            return False
        job_enqueue(RISK_RECOMPUTE_JOB)
        return True
