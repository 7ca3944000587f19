"""Reads of the infrastructure app (the kill switch checks live in ``services.killswitches``, where every other app
already imports them from)."""
from __future__ import annotations

from django.db.models import Count, QuerySet
from django.utils import timezone

from infrastructure.models import DeadLetterJob, Job


def job_status_counts() -> dict[str, int]:
    """How many jobs are in each status (every status present, zero when empty)."""
    counts = dict.fromkeys(Job.Status.values, 0)
    counts.update(dict(Job.objects.order_by().values_list("status").annotate(n=Count("id"))))
    return counts


def jobs_due() -> QuerySet[Job]:
    return Job.objects.filter(status=Job.Status.PENDING, next_run_at__lte=timezone.now())


def dead_letters_open() -> QuerySet[DeadLetterJob]:
    """Dead letters nobody requeued yet."""
    return DeadLetterJob.objects.filter(requeued_job__isnull=True)
