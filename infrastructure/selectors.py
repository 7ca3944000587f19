"""Reads of the infrastructure app (the kill switch checks live in ``services.killswitches``, where every other app
already imports them from)."""
from __future__ import annotations

from django.db import models
from django.db.models import Count, QuerySet
from django.utils import timezone

from infrastructure.models import DeadLetterJob, Job, StaffLock


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


def staff_locks_on(target: models.Model) -> QuerySet[StaffLock]:
    """The staff locks in force on one object, oldest first."""
    return StaffLock.objects.in_force().on(target).order_by("locked_at")


def staff_lock_in_force(target: models.Model, field: str = "status") -> StaffLock | None:
    """The first lock in force on ``target``'s ``field`` (staff's own before a cascade's), or None. Read it after
    locking the target's row, so that a lock committed by staff meanwhile is seen."""
    return (StaffLock.objects.in_force().on(target, field)
            .order_by(models.Case(models.When(cause=StaffLock.Cause.STAFF, then=0), default=1), "locked_at").first())
