"""Celery tasks of institutional memory: scheduled by beat (see CELERY_BEAT_SCHEDULE), each calls a service."""
from __future__ import annotations

from celery import shared_task
from django.db import transaction

from infrastructure.models import Job
from infrastructure.services.jobs import job_enqueue
from memory.services import TICK_JOB


# Named as when memory lived in the governance app: deployed beat schedules send this name.
@shared_task(name="governance.memory_tick", ignore_result=True)
def memory_tick() -> bool:
    """Queue the memory job (expire due lifecycles, open due reviews) unless one is already waiting or running."""
    with transaction.atomic():
        if Job.objects.filter(type=TICK_JOB, status__in=[Job.Status.PENDING, Job.Status.PROCESSING]).exists():
            return False
        job_enqueue(TICK_JOB)
        return True
