"""The durable jobs queue: enqueue inside the caller's transaction, handlers registered by type.

Life of a job::

    pending --claim--> processing --handler ok--> done
                           |--handler raised--> pending (next_run_at = now + backoff)   attempts < max_attempts
                           |--handler raised--> failed + dead_letter_jobs row           attempts = max_attempts
                           |--handler raised PermanentJobFailure--> failed + dead_letter_jobs row (no retry)
                           |--lease expired (worker died)--> pending, or dead letter when attempts are used up
    pending --cancel--> failed (cancelled_at)          dead letter --requeue--> a new pending job

A claim stamps ``locked_by`` (the worker) and ``lease_expires_at`` and counts the attempt. Every later write a
worker makes is a compare-and-set on ``(id, status='processing', locked_by, attempts)``: a worker that lost its lease
(reaped, then claimed by another) can never mark the job done or failed over the new claim.

Atomic handlers (the default) run inside the transaction that marks the job done, and that transaction's first
statements are the compare-and-set: the handler's database writes and the ``done`` mark commit together or not at
all, and the row stays locked while the handler runs, so the reaper (``SKIP LOCKED``) cannot take it away from a
live worker. A worker runs a batch's atomic jobs as one group sharing one commit (``jobs_execute_group``); when a
handler fails, the group rolls back and its jobs run again one transaction each. So an atomic handler must only
write to the database (it may run twice within an attempt; its writes commit once) and cannot call a
``durable=True`` service. Handlers that wait on the network (webhooks) or call durable services register with
``atomic=False``: they run outside any transaction, the worker's heartbeat renews their lease, and they must be
idempotent, because a worker that dies between the effect and the ``done`` mark leaves the job to be run again.
"""
from __future__ import annotations

import json
import logging
import random
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from core.errors import Conflict, InvalidInput, NotFound
from infrastructure import events
from infrastructure.models import DeadLetterJob, Job

logger = logging.getLogger("prostqs.jobs")

Handler = Callable[[Job], None]

# Outcomes of one execution, as returned by ``job_execute``.
DONE = "done"
RETRY = "retry"
DEAD = "dead"
LOST = "lost"  # the lease was taken over: this worker's result is discarded

MAX_ERROR_CHARS = 8000


class PermanentJobFailure(Exception):
    """Raised by a handler when another attempt cannot succeed (a refused configuration, an invalid payload): the
    job goes to the dead letters at once instead of being retried. An operator can requeue it once fixed."""


@dataclass(frozen=True)
class JobType:
    name: str
    handler: Handler
    max_attempts: int
    atomic: bool = True
    lease_seconds: float | None = None
    description: str = ""
    transient: frozenset[str] = frozenset()


_HANDLERS: dict[str, JobType] = {}


def _without_transient(job: Job) -> dict[str, Any] | None:
    """The payload without its type's ``transient`` keys, or None when it holds none of them."""
    spec = _HANDLERS.get(job.type)
    payload = job.payload
    if spec is None or not spec.transient or not isinstance(payload, dict) or not spec.transient & payload.keys():
        return None
    return {key: value for key, value in payload.items() if key not in spec.transient}


def register_handler(
    name: str,
    *,
    max_attempts: int = 5,
    atomic: bool = True,
    lease_seconds: float | None = None,
    description: str = "",
    transient: Iterable[str] = (),
) -> Callable[[Handler], Handler]:
    """Register the handler of a job type (from an app's ``AppConfig.ready()``).

    Handlers must be idempotent or guarded: delivery is at least once. ``atomic`` handlers run in the transaction
    that marks the job done; ``lease_seconds`` overrides ``JOBS_LEASE_SECONDS`` for this type. ``transient``
    payload keys are needed only until the job succeeds (a sealed one-time code): they are removed from the job
    when it is done, and neither kept on the failed job nor copied into its dead letter.
    """
    if max_attempts < 1:
        raise ImproperlyConfigured(f"job type {name!r}: max_attempts must be at least 1")
    if lease_seconds is not None:
        _check_lease(name, lease_seconds)

    def decorate(handler: Handler) -> Handler:
        if name in _HANDLERS:
            raise ImproperlyConfigured(f"job type {name!r} has two handlers")
        _HANDLERS[name] = JobType(name, handler, max_attempts, atomic, lease_seconds, description, frozenset(transient))
        return handler

    return decorate


def _check_lease(name: str, lease_seconds: float) -> None:
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    if lease_seconds <= 0 or lease_seconds >= visibility:
        raise ImproperlyConfigured(
            f"job type {name!r}: lease_seconds must be positive and shorter than the broker's visibility timeout "
            f"({visibility} s)")


def job_type(name: str) -> JobType:
    try:
        return _HANDLERS[name]
    except KeyError:
        raise InvalidInput(_("Unknown job type %(type)r.") % {"type": name}, code="unknown_job_type") from None


def registered_types() -> list[str]:
    return sorted(_HANDLERS)


def job_is_atomic(type: str) -> bool:
    """Does this type's handler run inside the transaction that marks its job done?"""
    spec = _HANDLERS.get(type)
    return spec is not None and spec.atomic


def lease_seconds_for(type: str) -> float:
    spec = _HANDLERS.get(type)
    if spec is not None and spec.lease_seconds:
        return spec.lease_seconds
    return settings.JOBS_LEASE_SECONDS


def job_enqueue(
    type: str,
    *,
    payload: dict[str, Any] | None = None,
    priority: int = 0,
    run_at: datetime | None = None,
    max_attempts: int | None = None,
) -> Job:
    """Create a job row in the current transaction; it runs only if the transaction commits."""
    spec = job_type(type)  # an unknown type is refused here, not when a worker finds it
    if payload is not None and not isinstance(payload, dict):
        raise InvalidInput(_("A job payload is a JSON object."), code="invalid_job_payload")
    try:
        json.dumps(payload or {})
    except (TypeError, ValueError):
        raise InvalidInput(_("A job payload must be JSON-serialisable."), code="invalid_job_payload") from None
    if max_attempts is not None and max_attempts < 1:
        raise InvalidInput(_("max_attempts must be at least 1."), code="invalid_max_attempts",
                           fields={"max_attempts": [_("Ensure this value is greater than or equal to 1.")]})
    return Job.objects.create(
        type=type,
        payload=payload or {},
        priority=priority,
        next_run_at=run_at or timezone.now(),
        max_attempts=max_attempts or spec.max_attempts,
    )


# --- claiming ---------------------------------------------------------------------------------------------------

_PG_CLAIM = """
WITH picked AS (
    SELECT id FROM jobs
    WHERE status = 'pending' AND next_run_at <= %(now)s AND type = ANY(%(types)s)
    ORDER BY priority DESC, next_run_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs SET status = 'processing', attempts = jobs.attempts + 1, locked_by = %(worker)s,
    lease_expires_at = %(now)s + make_interval(
        secs => COALESCE((%(leases)s::jsonb ->> jobs.type)::float8, %(lease)s)),
    updated_at = %(now)s
FROM picked WHERE jobs.id = picked.id
RETURNING jobs.*
"""


def jobs_claim(*, worker: str, limit: int = 1, types: Iterable[str] | None = None,
               now: datetime | None = None) -> list[Job]:
    """Claim up to ``limit`` due jobs (highest priority, then oldest ``next_run_at``) for ``worker``.

    Each claimed job is ``processing`` under a lease and has its attempt counted. Only types with a handler in this
    process are claimed, so a worker never takes a job it cannot run (rolling deploys).
    """
    wanted = [t for t in (types if types is not None else _HANDLERS) if t in _HANDLERS]
    if not wanted or limit < 1:
        return []
    now = now or timezone.now()
    custom = {t: _HANDLERS[t].lease_seconds for t in wanted if _HANDLERS[t].lease_seconds}
    if connection.vendor == "postgresql":
        # One statement: concurrent claimers skip each other's rows instead of waiting on them.
        params = {"now": now, "types": wanted, "limit": limit, "worker": worker,
                  "leases": json.dumps(custom), "lease": float(settings.JOBS_LEASE_SECONDS)}
        jobs = list(Job.objects.raw(_PG_CLAIM, params))
    else:
        jobs = _claim_portable(worker=worker, limit=limit, types=wanted, now=now)
    jobs.sort(key=lambda j: (-j.priority, j.next_run_at, str(j.id)))
    return jobs


def _claim_portable(*, worker: str, limit: int, types: list[str], now: datetime) -> list[Job]:
    """The claim without SKIP LOCKED: correct where one writer holds the database at a time.

    On SQLite, ``atomic()`` begins IMMEDIATE (settings), so this transaction is the only writer from its first
    statement: no other claimer can pick the same rows between the SELECT and the UPDATE. The UPDATE re-checks
    ``status='pending'`` and only rows this worker stamped are returned, in case a deployment changes that mode.
    """
    with transaction.atomic():
        picked = list(Job.objects.filter(status=Job.Status.PENDING, next_run_at__lte=now, type__in=types)
                      .order_by("-priority", "next_run_at").values_list("id", "type")[:limit])
        by_lease: dict[float, list] = {}
        for job_id, type in picked:
            by_lease.setdefault(lease_seconds_for(type), []).append(job_id)
        for lease, ids in by_lease.items():
            Job.objects.filter(id__in=ids, status=Job.Status.PENDING).update(
                status=Job.Status.PROCESSING, attempts=F("attempts") + 1, locked_by=worker,
                lease_expires_at=now + timedelta(seconds=lease), updated_at=now)
        return list(Job.objects.filter(id__in=[i for i, _t in picked], status=Job.Status.PROCESSING,
                                       locked_by=worker))


def _owned(job: Job, worker: str) -> QuerySet[Job]:
    """The compare-and-set guard: still this worker's claim, and the same attempt."""
    return Job.objects.filter(id=job.id, status=Job.Status.PROCESSING, locked_by=worker, attempts=job.attempts)


def jobs_heartbeat(jobs: Iterable[Job], *, worker: str, now: datetime | None = None) -> int:
    """Renew the leases of jobs this worker still holds. Returns how many were renewed.

    Rows locked by a running atomic handler are skipped (their lock already protects them) rather than waited on.
    """
    now = now or timezone.now()
    by_lease: dict[float, list] = {}
    for job in jobs:
        by_lease.setdefault(lease_seconds_for(job.type), []).append(job.id)
    renewed = 0
    for lease, ids in by_lease.items():
        with transaction.atomic():
            mine = list(Job.objects.select_for_update(skip_locked=True)
                        .filter(id__in=ids, status=Job.Status.PROCESSING, locked_by=worker)
                        .values_list("id", flat=True))
            if mine:
                renewed += Job.objects.filter(id__in=mine).update(
                    lease_expires_at=now + timedelta(seconds=lease), updated_at=now)
    return renewed


def jobs_release(jobs: Iterable[Job], *, worker: str) -> int:
    """Give claimed jobs that were not started back to the queue, without counting the attempt."""
    released = 0
    now = timezone.now()
    with transaction.atomic():
        for job in jobs:
            released += _owned(job, worker).update(
                status=Job.Status.PENDING, attempts=F("attempts") - 1, locked_by="", lease_expires_at=None,
                updated_at=now)
    return released


# --- running ----------------------------------------------------------------------------------------------------


def job_backoff_seconds(attempt: int) -> float:
    """Delay before the retry that follows failed attempt number ``attempt`` (1-based).

    Exponential with "equal jitter": half of ``base * 2**(attempt-1)`` is fixed and half random, so retries of
    many jobs that failed together spread out, while each job's delays still grow from one attempt to the next.
    """
    ceiling = min(settings.JOBS_RETRY_BASE_SECONDS * 2 ** max(attempt - 1, 0), settings.JOBS_RETRY_MAX_SECONDS)
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _describe(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(exc)).strip()
    return text[-MAX_ERROR_CHARS:]


def job_execute(job: Job, *, worker: str) -> str:
    """Run a claimed job's handler and record the outcome (``DONE``, ``RETRY``, ``DEAD`` or ``LOST``)."""
    spec = _HANDLERS.get(job.type)
    if spec is None:
        return job_fail(job, worker=worker, error=f"no handler is registered for job type {job.type!r}")
    try:
        if spec.atomic:
            with transaction.atomic():
                if not _mark_done(job, worker=worker):
                    return _lost(job, worker)
                spec.handler(job)
        else:
            spec.handler(job)
            if not _mark_done(job, worker=worker):
                return _lost(job, worker)
    except PermanentJobFailure as exc:
        return job_fail(job, worker=worker, error=_describe(exc), permanent=True)
    except Exception as exc:  # noqa: BLE001 - any handler failure is recorded on the job and retried
        return job_fail(job, worker=worker, error=_describe(exc))
    return DONE


def jobs_execute_group(jobs: list[Job], *, worker: str,
                       keep_going: Callable[[], bool] = lambda: True) -> list[tuple[Job, str]]:
    """Group commit: run atomic jobs in one transaction, so that they share one commit (one disk flush).

    The group's rows are locked and marked done in two statements (and a job whose type has ``transient`` payload
    keys loses them in one more, once its handler ran), then each handler runs; ``keep_going`` is asked
    before every job after the first, and jobs it stops are put back to ``processing`` and left out of the result
    (the caller runs or releases them). If any handler raises, the whole transaction rolls back (every handler's
    writes with it) and the group's jobs run again one transaction each, which records the failure where it belongs.
    A handler can therefore run twice within one attempt, but its database writes commit exactly once.
    Returns ``(job, outcome)`` for every job of the group that ran or turned out to be lost.
    """
    if len(jobs) == 1:
        return [(jobs[0], job_execute(jobs[0], worker=worker))]
    by_id = {j.id: j for j in jobs}
    results: list[tuple[Job, str]] = []
    try:
        with transaction.atomic():
            now = timezone.now()
            mine = dict(Job.objects.select_for_update()
                        .filter(id__in=list(by_id), status=Job.Status.PROCESSING, locked_by=worker)
                        .values_list("id", "attempts"))
            owned = [j for j in jobs if mine.get(j.id) == j.attempts]
            results = [(j, _lost(j, worker)) for j in jobs if mine.get(j.id) != j.attempts]
            Job.objects.filter(id__in=[j.id for j in owned]).update(
                status=Job.Status.DONE, finished_at=now, lease_expires_at=None, updated_at=now)
            for index, job in enumerate(owned):
                if index and not keep_going():
                    for left in owned[index:]:  # back to claimed-not-started, with a fresh lease
                        Job.objects.filter(id=left.id).update(
                            status=Job.Status.PROCESSING, finished_at=None,
                            lease_expires_at=now + timedelta(seconds=lease_seconds_for(left.type)))
                    break
                _HANDLERS[job.type].handler(job)
                kept = _without_transient(job)  # only once its handler ran: a job put back still needs them
                if kept is not None:
                    Job.objects.filter(id=job.id).update(payload=kept)
                job.status, job.finished_at, job.lease_expires_at = Job.Status.DONE, now, None
                results.append((job, DONE))
    except Exception as exc:  # noqa: BLE001 - one handler failed: nothing of the group committed; go one by one
        logger.info("jobs: a group of %s jobs rolled back (%s); running them one at a time", len(jobs),
                    type(exc).__name__)
        results = []
        for index, job in enumerate(jobs):
            if index and not keep_going():
                break
            job.status, job.finished_at = Job.Status.PROCESSING, None
            results.append((job, job_execute(job, worker=worker)))
    return results


def _mark_done(job: Job, *, worker: str) -> bool:
    now = timezone.now()
    kept = _without_transient(job)
    if not _owned(job, worker).update(status=Job.Status.DONE, finished_at=now, lease_expires_at=None, updated_at=now,
                                      **({} if kept is None else {"payload": kept})):
        return False
    job.status, job.finished_at, job.lease_expires_at = Job.Status.DONE, now, None
    return True


def _lost(job: Job, worker: str) -> str:
    logger.warning("jobs: %s lost its lease on job %s (%s, attempt %s); its result is discarded",
                   worker, job.id, job.type, job.attempts)
    return LOST


def job_fail(job: Job, *, worker: str, error: str, permanent: bool = False) -> str:
    """Record a failed attempt: retry later with backoff, or dead-letter when the attempts are used up (or at once
    when the failure is ``permanent``)."""
    now = timezone.now()
    with transaction.atomic():
        current = _owned(job, worker).select_for_update().first()
        if current is None:
            return _lost(job, worker)
        if permanent or current.attempts >= current.max_attempts:
            _dead_letter(current, error=error, now=now)
            job.status = Job.Status.FAILED
            return DEAD
        delay = job_backoff_seconds(current.attempts)
        Job.objects.filter(id=current.id).update(
            status=Job.Status.PENDING, next_run_at=now + timedelta(seconds=delay), last_error=error, locked_by="",
            lease_expires_at=None, updated_at=now)
    job.status, job.last_error = Job.Status.PENDING, error
    logger.info("jobs: job %s (%s) attempt %s/%s failed; retry in %.3g s",
                job.id, job.type, job.attempts, job.max_attempts, delay)
    return RETRY


def _dead_letter(job: Job, *, error: str, now: datetime) -> DeadLetterJob:
    kept = _without_transient(job)
    payload = job.payload if kept is None else kept
    Job.objects.filter(id=job.id).update(status=Job.Status.FAILED, last_error=error, finished_at=now,
                                         lease_expires_at=None, updated_at=now, payload=payload)
    dead = DeadLetterJob.objects.create(original_job_id=job.id, type=job.type, payload=payload,
                                        attempts=job.attempts, last_error=error, failed_at=now)
    audit_record(events.JOB_DEAD_LETTERED, action="dead_letter", target_type="job", target_id=job.id,
                 after={"status": Job.Status.FAILED, "attempts": job.attempts},
                 metadata={"type": job.type, "dead_letter_id": str(dead.id), "error": error[-500:]})
    logger.error("jobs: job %s (%s) failed %s times and moved to the dead letters", job.id, job.type, job.attempts)
    return dead


def jobs_reap_expired(*, now: datetime | None = None, limit: int = 500) -> int:
    """Return jobs whose lease expired (their worker died) to ``pending``; dead-letter those out of attempts.

    Rows a live atomic handler still holds are locked and skipped, whatever their lease says.
    """
    now = now or timezone.now()
    with transaction.atomic():
        expired = list(Job.objects.select_for_update(skip_locked=True)
                       .filter(status=Job.Status.PROCESSING, lease_expires_at__lt=now)
                       .order_by("lease_expires_at")[:limit])
        if not expired:
            return 0
        retry, dead = [], []
        for job in expired:
            error = (f"lease expired at {job.lease_expires_at.isoformat()}: worker {job.locked_by} stopped before "
                     f"finishing attempt {job.attempts}")
            if job.attempts >= job.max_attempts:
                _dead_letter(job, error=error, now=now)
                dead.append(job)
            else:
                Job.objects.filter(id=job.id).update(status=Job.Status.PENDING, next_run_at=now, last_error=error,
                                                     locked_by="", lease_expires_at=None, updated_at=now)
                retry.append(job)
        audit_record(events.JOBS_LEASES_REAPED, action="reap",
                     metadata={"requeued": len(retry), "dead_lettered": len(dead),
                               "jobs": [str(j.id) for j in expired[:50]],
                               "workers": sorted({j.locked_by for j in expired})})
    logger.warning("jobs: reclaimed %s job(s) whose lease expired (%s dead-lettered)", len(expired), len(dead))
    return len(expired)


# --- operators --------------------------------------------------------------------------------------------------


def _actor_kwargs(actor: Any) -> dict[str, Any]:
    if actor is None:
        return {}
    actor_id = getattr(actor, "pk", actor)
    kwargs: dict[str, Any] = {"actor_id": actor_id}
    if getattr(actor, "is_staff", False):
        kwargs["actor_type"] = "admin"
    return kwargs


def _locked(job: Job | Any) -> Job:
    job_id = getattr(job, "pk", job)
    current = Job.objects.select_for_update().filter(id=job_id).first()
    if current is None:
        raise NotFound(_("No such job."), code="job_not_found")
    return current


@transaction.atomic
def job_retry_now(job: Job | Any, *, actor: Any = None) -> Job:
    """Make a pending job due now (skipping the rest of its backoff)."""
    job = _locked(job)
    if job.status != Job.Status.PENDING:
        raise Conflict(_("Only pending jobs can be retried now; this one is %(status)s.") % {"status": job.status},
                       code="job_not_pending")
    before = job.next_run_at
    job.next_run_at = timezone.now()
    job.save(update_fields=["next_run_at", "updated_at"])
    audit_record(events.JOB_RETRIED, action="retry_now", target_type="job", target_id=job.id,
                 before={"next_run_at": before}, after={"next_run_at": job.next_run_at},
                 metadata={"type": job.type}, **_actor_kwargs(actor))
    return job


@transaction.atomic
def job_cancel(job: Job | Any, *, reason: str, actor: Any = None) -> Job:
    """Cancel a pending job: it becomes ``failed`` with ``cancelled_at`` and never runs."""
    reason = (reason or "").strip()
    if len(reason) < 3:
        raise InvalidInput(_("Say why the job is cancelled."), code="reason_required",
                           fields={"reason": [_("Ensure this field has at least 3 characters.")]})
    job = _locked(job)
    if job.status != Job.Status.PENDING:
        raise Conflict(_("Only pending jobs can be cancelled; this one is %(status)s.") % {"status": job.status},
                       code="job_not_pending")
    now = timezone.now()
    job.status, job.cancelled_at, job.finished_at = Job.Status.FAILED, now, now
    job.last_error = f"cancelled: {reason}"
    kept = _without_transient(job)
    if kept is not None:
        job.payload = kept
    job.save(update_fields=["status", "cancelled_at", "finished_at", "last_error", "updated_at", "payload"])
    audit_record(events.JOB_CANCELLED, action="cancel", target_type="job", target_id=job.id,
                 before={"status": Job.Status.PENDING}, after={"status": job.status}, reason=reason,
                 metadata={"type": job.type}, **_actor_kwargs(actor))
    return job


@transaction.atomic
def dead_letter_requeue(dead_letter: DeadLetterJob | Any, *, actor: Any = None) -> Job:
    """Requeue a dead letter as a new job (same type, payload, priority, a fresh set of attempts)."""
    dead_id = getattr(dead_letter, "pk", dead_letter)
    dead = DeadLetterJob.objects.select_for_update().select_related("original_job").filter(id=dead_id).first()
    if dead is None:
        raise NotFound(_("No such dead letter."), code="dead_letter_not_found")
    if dead.requeued_job_id:
        raise Conflict(_("This dead letter was already requeued."), code="already_requeued")
    original = dead.original_job
    new = job_enqueue(dead.type, payload=dead.payload, priority=original.priority, max_attempts=original.max_attempts)
    dead.requeued_job, dead.requeued_at = new, timezone.now()
    dead.save(update_fields=["requeued_job", "requeued_at"])
    audit_record(events.JOB_REQUEUED, action="requeue", target_type="job", target_id=new.id,
                 metadata={"type": dead.type, "dead_letter_id": str(dead.id), "original_job_id": str(original.id)},
                 **_actor_kwargs(actor))
    return new


@transaction.atomic
def job_requeue(job: Job | Any, *, actor: Any = None) -> Job:
    """Requeue a dead-lettered job (through its dead letter)."""
    job = _locked(job)
    dead = job.dead_letters.filter(requeued_job__isnull=True).order_by("-failed_at").first()
    if job.status != Job.Status.FAILED or dead is None:
        raise Conflict(_("Only dead-lettered jobs that were not requeued yet can be requeued."),
                       code="job_not_dead_lettered")
    return dead_letter_requeue(dead, actor=actor)
