"""Celery tasks: scheduled by beat (see CELERY_BEAT_SCHEDULE), each calls a service."""
from __future__ import annotations

from celery import shared_task
from django.db import transaction

from audit import context
from governance.services.approvals import approval_requests_expire
from governance.services.memory import TICK_JOB
from infrastructure.models import Job
from infrastructure.services.jobs import job_enqueue


@shared_task(name="governance.approvals_expire", ignore_result=True)
def approvals_expire() -> int:
    with context.scope(actor_id=None, actor_type="system", app_id=None, ip=None, user_agent=""):
        return approval_requests_expire()


@shared_task(name="governance.memory_tick", ignore_result=True)
def memory_tick() -> bool:
    """Queue the memory job (expire due lifecycles, open due reviews) unless one is already waiting or running."""
    with transaction.atomic():
        if Job.objects.filter(type=TICK_JOB, status__in=[Job.Status.PENDING, Job.Status.PROCESSING]).exists():
            return False
        job_enqueue(TICK_JOB)
        return True
