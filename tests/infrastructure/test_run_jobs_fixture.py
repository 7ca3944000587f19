"""The shared ``run_jobs`` fixture drives the real worker: claims, attempts, outcomes, failures reported."""
from __future__ import annotations

import pytest

from infrastructure.models import DeadLetterJob, Job
from infrastructure.services.jobs import DEAD, DONE, RETRY, job_enqueue
from infrastructure.worker import JobWorker

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def test_a_worker_limited_to_some_types_claims_only_those(effects):
    wanted = job_enqueue("test.effect")
    other = job_enqueue("test.always_fails")
    seen = []
    worker = JobWorker(name="typed", types=["test.effect"], on_outcome=lambda job, outcome: seen.append(
        (job.id, outcome)))
    assert worker.run_batch() == 1
    assert seen == [(wanted.id, DONE)]
    assert Job.objects.get(id=other.id).status == Job.Status.PENDING


def test_run_jobs_claims_and_completes_through_the_worker(effects, run_jobs):
    job = job_enqueue("test.effect")
    assert run_jobs("test.effect") == 1
    job.refresh_from_db()
    # A claim counted the attempt and stamped the worker; the handler saw the claim it ran under.
    assert (job.status, job.attempts, job.finished_at is not None) == (Job.Status.DONE, 1, True)
    assert effects.rows() == [(str(job.id), "tests:run_jobs:1", 1)]
    assert [(j.id, outcome) for j, outcome in run_jobs.outcomes] == [(job.id, DONE)]
    assert run_jobs() == 0 and run_jobs.outcomes == []


def test_run_jobs_fails_the_test_when_a_job_fails(effects, run_jobs, settings):
    settings.JOBS_RETRY_BASE_SECONDS = 3600
    job = job_enqueue("test.always_fails")
    with pytest.raises(AssertionError, match="boom on attempt 1"):
        run_jobs("test.always_fails")
    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.PENDING, 1)  # retried later, with backoff
    assert run_jobs("test.always_fails") == 0  # the retry is not due yet


def test_run_jobs_drives_retries_to_the_dead_letter_when_they_are_due_at_once(effects, run_jobs, settings):
    settings.JOBS_RETRY_BASE_SECONDS = 0
    job = job_enqueue("test.always_fails")
    assert run_jobs("test.always_fails", allow_failures=True) == 4
    assert [outcome for _j, outcome in run_jobs.outcomes] == [RETRY, RETRY, RETRY, DEAD]
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert DeadLetterJob.objects.get(original_job=job).attempts == 4
