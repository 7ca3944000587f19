"""Celery beat entries of the billing app: they only queue jobs (the jobs table is the queue)."""
from __future__ import annotations

from celery import shared_task
from django.db import transaction

from infrastructure.models import Job
from infrastructure.services.jobs import job_enqueue


def _enqueue_once(job_type: str) -> bool:
    """Queue ``job_type`` unless one is already waiting or running (a slow run never piles up)."""
    with transaction.atomic():
        if Job.objects.filter(type=job_type, status__in=[Job.Status.PENDING, Job.Status.PROCESSING]).exists():
            return False
        job_enqueue(job_type)
        return True


@shared_task(name="billing.reconcile", ignore_result=True)
def reconcile() -> bool:
    return _enqueue_once("reconcile")


@shared_task(name="billing.idempotency_cleanup", ignore_result=True)
def idempotency_cleanup() -> bool:
    return _enqueue_once("idempotency_cleanup")
