"""The jobs queue in one process: enqueue, claim, run, retry with backoff, dead letter, requeue, leases."""
from __future__ import annotations

import time
from datetime import timedelta
from itertools import pairwise

import pytest
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, InvalidInput
from infrastructure import events
from infrastructure.models import DeadLetterJob, Job
from infrastructure.selectors import job_status_counts
from infrastructure.services import jobs as jobs_service
from infrastructure.services.jobs import (
    DEAD,
    DONE,
    LOST,
    RETRY,
    dead_letter_requeue,
    job_backoff_seconds,
    job_cancel,
    job_enqueue,
    job_execute,
    job_requeue,
    job_retry_now,
    jobs_claim,
    jobs_heartbeat,
    jobs_reap_expired,
    jobs_release,
    register_handler,
)
from infrastructure.services.killswitches import killswitch_activate, killswitch_deactivate
from infrastructure.worker import JobWorker
from tests.infrastructure.conftest import audited

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def only_test_types(**kwargs):
    return jobs_claim(types=["test.effect", "test.always_fails", "test.halts_jobs"], **kwargs)


# --- enqueue ----------------------------------------------------------------------------------------------------


def test_enqueue_refuses_an_unknown_type():
    with pytest.raises(InvalidInput) as err:
        job_enqueue("no.such.type")
    assert err.value.code == "unknown_job_type"
    assert not Job.objects.exists()


@pytest.mark.parametrize("payload", [["not", "an", "object"], {"when": object()}])
def test_enqueue_refuses_a_payload_that_is_not_a_json_object(payload):
    with pytest.raises(InvalidInput):
        job_enqueue("test.effect", payload=payload)


def test_enqueue_takes_the_type_defaults_and_is_due_now():
    job = job_enqueue("test.always_fails", payload={"a": 1})
    assert (job.status, job.attempts, job.max_attempts) == (Job.Status.PENDING, 0, 4)
    assert job.next_run_at <= timezone.now()


def test_a_job_enqueued_in_a_transaction_that_rolls_back_never_exists():
    with pytest.raises(RuntimeError), transaction.atomic():
        job_enqueue("test.effect")
        raise RuntimeError("the work that needed the job failed")
    assert not Job.objects.exists()


def test_a_type_registered_twice_is_refused():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        register_handler("test.effect")(lambda job: None)


# --- claiming ---------------------------------------------------------------------------------------------------


def test_claim_takes_due_jobs_by_priority_then_next_run_at():
    now = timezone.now()
    low_old = job_enqueue("test.effect", priority=0, run_at=now - timedelta(minutes=5))
    high = job_enqueue("test.effect", priority=5, run_at=now - timedelta(minutes=1))
    low_new = job_enqueue("test.effect", priority=0, run_at=now - timedelta(minutes=2))
    job_enqueue("test.effect", priority=9, run_at=now + timedelta(minutes=5))  # not due
    claimed = only_test_types(worker="w1", limit=10)
    assert [j.id for j in claimed] == [high.id, low_old.id, low_new.id]
    for job in claimed:
        assert (job.status, job.attempts, job.locked_by) == (Job.Status.PROCESSING, 1, "w1")
        assert job.lease_expires_at > timezone.now()


def test_single_claim_takes_one_and_a_second_claim_takes_the_next():
    a, b = job_enqueue("test.effect", priority=2), job_enqueue("test.effect", priority=1)
    assert [j.id for j in only_test_types(worker="w1", limit=1)] == [a.id]
    assert [j.id for j in only_test_types(worker="w2", limit=1)] == [b.id]
    assert only_test_types(worker="w3", limit=1) == []


def test_claim_takes_only_types_this_process_can_run():
    Job.objects.create(type="retired.type", payload={})
    job_enqueue("test.effect")
    claimed = jobs_claim(worker="w1", limit=10)
    assert {j.type for j in claimed} == {"test.effect"}
    assert Job.objects.get(type="retired.type").status == Job.Status.PENDING


def test_claim_leases_each_type_for_its_own_lease(settings):
    settings.JOBS_LEASE_SECONDS = 60
    job_enqueue("test.effect")
    job_enqueue("test.long_external", payload={"seconds": 0})
    before = timezone.now()
    claimed = {j.type: j for j in jobs_claim(worker="w1", limit=10, types=["test.effect", "test.long_external"])}
    assert 59 < (claimed["test.effect"].lease_expires_at - before).total_seconds() <= 61
    assert 0.5 < (claimed["test.long_external"].lease_expires_at - before).total_seconds() <= 1.6


# --- running ----------------------------------------------------------------------------------------------------


def test_a_job_runs_once_and_its_effect_commits_with_done(effects):
    job = job_enqueue("test.effect")
    [claimed] = only_test_types(worker="w1")
    assert job_execute(claimed, worker="w1") == DONE
    job.refresh_from_db()
    assert (job.status, job.attempts, job.lease_expires_at) == (Job.Status.DONE, 1, None)
    assert job.finished_at is not None and job.locked_by == "w1"
    assert effects.count(job.id) == 1


def test_a_worker_that_lost_its_lease_cannot_complete_over_the_new_claim(effects):
    job = job_enqueue("test.effect")
    [stale] = only_test_types(worker="w1")
    Job.objects.filter(id=job.id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert jobs_reap_expired() == 1
    [fresh] = only_test_types(worker="w2")
    assert fresh.attempts == 2

    assert job_execute(stale, worker="w1") == LOST  # the handler's effect is rolled back with it
    assert effects.count(job.id) == 0
    assert Job.objects.get(id=job.id).locked_by == "w2"

    assert job_execute(fresh, worker="w2") == DONE
    assert effects.count(job.id) == 1
    assert Job.objects.get(id=job.id).status == Job.Status.DONE


def test_a_stale_failure_does_not_touch_the_new_claim():
    job = job_enqueue("test.effect")
    [stale] = only_test_types(worker="w1")
    Job.objects.filter(id=job.id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    jobs_reap_expired()
    only_test_types(worker="w2")
    assert jobs_service.job_fail(stale, worker="w1", error="late failure") == LOST
    job.refresh_from_db()
    assert (job.status, job.locked_by, job.last_error.startswith("lease expired")) == (
        Job.Status.PROCESSING, "w2", True)


def test_backoff_grows_exponentially_with_jitter_and_is_capped(settings):
    settings.JOBS_RETRY_BASE_SECONDS = 2
    settings.JOBS_RETRY_MAX_SECONDS = 30
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (4, 16), (5, 30), (9, 30)]:
        samples = [job_backoff_seconds(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= s <= ceiling for s in samples)
        assert max(samples) - min(samples) > ceiling / 10  # jitter spreads retries out


def test_an_always_failing_job_retries_with_growing_delays_then_dead_letters(effects, fast_retries):
    job = job_enqueue("test.always_fails", payload={"order": 42})
    # Each delay is only known to lie between next_run_at minus the end and minus the start of its attempt (the
    # machine may be slow); the backoff schedule must fit inside that window.
    windows, outcomes = [], []
    while True:
        current = Job.objects.get(id=job.id)
        if current.status != Job.Status.PENDING:
            break
        pause = (current.next_run_at - timezone.now()).total_seconds()
        if pause > 0:  # wait until due, as a worker would
            time.sleep(pause)
        [claimed] = only_test_types(worker="w1")
        started = timezone.now()
        outcomes.append(job_execute(claimed, worker="w1"))
        ended = timezone.now()
        after = Job.objects.get(id=job.id)
        if after.status == Job.Status.PENDING:
            windows.append(((after.next_run_at - ended).total_seconds(),
                            (after.next_run_at - started).total_seconds()))
            assert after.last_error.rstrip().endswith(f"boom on attempt {after.attempts}")
            assert after.locked_by == "" and after.lease_expires_at is None

    assert outcomes == [RETRY, RETRY, RETRY, DEAD]
    assert len(windows) == 3
    for attempt, (shortest, longest) in enumerate(windows, start=1):
        ceiling = 0.05 * 2 ** (attempt - 1)  # full jitter over the upper half: [ceiling / 2, ceiling]
        assert shortest <= ceiling + 0.002 and longest >= ceiling / 2 - 0.002, (attempt, shortest, longest)
    # Growing: each retry waits at least as long as the previous one could have at most.
    assert all(later[1] >= earlier[0] for earlier, later in pairwise(windows))
    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.FAILED, 4)
    dead = DeadLetterJob.objects.get(original_job=job)
    assert (dead.type, dead.payload, dead.attempts) == ("test.always_fails", {"order": 42}, 4)
    assert "boom on attempt 4" in dead.last_error and "RuntimeError" in dead.last_error
    assert effects.count(job.id) == 0  # every failed attempt's writes were rolled back
    [event] = audited(events.JOB_DEAD_LETTERED)
    assert str(event.target_id) == str(job.id) and event.after["attempts"] == 4


def test_a_permanent_failure_goes_to_the_dead_letters_at_once(effects):
    job = job_enqueue("test.refused")
    [claimed] = jobs_claim(worker="w1", types=["test.refused"])
    assert job_execute(claimed, worker="w1") == DEAD
    job.refresh_from_db()
    assert (job.status, job.attempts, job.max_attempts) == (Job.Status.FAILED, 1, 4)
    dead = DeadLetterJob.objects.get(original_job=job)
    assert "PermanentJobFailure" in dead.last_error and "retrying cannot help" in dead.last_error
    assert effects.count(job.id) == 0
    [event] = audited(events.JOB_DEAD_LETTERED)
    assert str(event.target_id) == str(job.id)


def test_a_permanent_failure_in_a_group_dead_letters_only_its_job(effects):
    ok, refused = job_enqueue("test.effect"), job_enqueue("test.refused")
    worker = JobWorker(name="grouped", batch_size=10, group_seconds=10, types=["test.effect", "test.refused"])
    assert worker.run_batch() == 2
    assert worker.outcomes == {DONE: 1, DEAD: 1}
    assert [Job.objects.get(id=j.id).status for j in (ok, refused)] == ["done", "failed"]
    assert effects.count(ok.id) == 1 and effects.count(refused.id) == 0


def dead_letter(job_type: str = "test.always_fails", **kwargs) -> DeadLetterJob:
    job = job_enqueue(job_type, max_attempts=1, **kwargs)
    [claimed] = only_test_types(worker="w1")
    assert job_execute(claimed, worker="w1") == DEAD
    return DeadLetterJob.objects.get(original_job=job)


def test_requeue_makes_a_new_job_from_the_dead_letter_once(effects):
    dead = dead_letter("test.always_fails", payload={"n": 7}, priority=3)
    new = dead_letter_requeue(dead)
    assert new.id != dead.original_job_id
    assert (new.type, new.payload, new.priority, new.status, new.attempts, new.max_attempts) == (
        "test.always_fails", {"n": 7}, 3, Job.Status.PENDING, 0, 1)
    dead.refresh_from_db()
    assert dead.requeued_job_id == new.id and dead.requeued_at is not None
    with pytest.raises(Conflict):
        dead_letter_requeue(dead)
    with pytest.raises(Conflict):
        job_requeue(dead.original_job)
    [event] = audited(events.JOB_REQUEUED)
    assert str(event.target_id) == str(new.id)


def test_a_requeued_job_runs_when_its_cause_is_fixed(effects, monkeypatch):
    dead = dead_letter("test.always_fails")
    monkeypatch.setitem(jobs_service._HANDLERS, "test.always_fails",
                        jobs_service.JobType("test.always_fails", lambda job: None, 4))
    new = job_requeue(dead.original_job)
    [claimed] = only_test_types(worker="w1")
    assert claimed.id == new.id and job_execute(claimed, worker="w1") == DONE


def test_retry_now_makes_a_waiting_job_due(fast_retries):
    job = job_enqueue("test.effect", run_at=timezone.now() + timedelta(hours=1))
    assert only_test_types(worker="w1") == []
    job_retry_now(job)
    assert [j.id for j in only_test_types(worker="w1")] == [job.id]
    with pytest.raises(Conflict):
        job_retry_now(job)  # processing now
    assert len(audited(events.JOB_RETRIED)) == 1


def test_cancel_needs_a_reason_and_a_pending_job():
    job = job_enqueue("test.effect")
    with pytest.raises(InvalidInput) as err:
        job_cancel(job, reason=" ")
    assert "reason" in err.value.fields
    cancelled = job_cancel(job, reason="customer withdrew the request")
    assert (cancelled.status, cancelled.cancelled_at is not None) == (Job.Status.FAILED, True)
    assert only_test_types(worker="w1") == []
    with pytest.raises(Conflict):
        job_cancel(job, reason="again")
    with pytest.raises(Conflict):
        job_requeue(job)  # cancelled, not dead-lettered
    [event] = audited(events.JOB_CANCELLED)
    assert event.reason == "customer withdrew the request"


# --- leases -----------------------------------------------------------------------------------------------------


def test_the_reaper_returns_expired_leases_and_leaves_live_ones():
    expired, live = job_enqueue("test.effect"), job_enqueue("test.effect")
    only_test_types(worker="w1", limit=2)
    Job.objects.filter(id=expired.id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert jobs_reap_expired() == 1
    expired.refresh_from_db()
    live.refresh_from_db()
    assert (expired.status, expired.locked_by, expired.attempts) == (Job.Status.PENDING, "", 1)
    assert "worker w1 stopped" in expired.last_error
    assert live.status == Job.Status.PROCESSING
    [event] = audited(events.JOBS_LEASES_REAPED)
    assert event.metadata["requeued"] == 1 and event.metadata["workers"] == ["w1"]


def test_the_reaper_dead_letters_a_job_whose_attempts_are_used_up():
    job = job_enqueue("test.effect", max_attempts=1)
    only_test_types(worker="w1")
    Job.objects.filter(id=job.id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    jobs_reap_expired()
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert DeadLetterJob.objects.get(original_job=job).last_error.startswith("lease expired")


def test_heartbeat_renews_only_this_workers_leases():
    mine, theirs = job_enqueue("test.effect"), job_enqueue("test.effect")
    [a] = only_test_types(worker="w1")
    [b] = only_test_types(worker="w2")
    old = {j.id: j.lease_expires_at for j in (a, b)}
    later = timezone.now() + timedelta(seconds=30)
    assert jobs_heartbeat([a, b], worker="w1", now=later) == 1
    assert Job.objects.get(id=mine.id).lease_expires_at > old[a.id]
    assert Job.objects.get(id=theirs.id).lease_expires_at == old[b.id]


def test_release_gives_unstarted_jobs_back_without_counting_an_attempt():
    job = job_enqueue("test.effect")
    claimed = only_test_types(worker="w1")
    assert jobs_release(claimed, worker="w2") == 0  # not theirs
    assert jobs_release(claimed, worker="w1") == 1
    job.refresh_from_db()
    assert (job.status, job.attempts, job.locked_by) == (Job.Status.PENDING, 0, "")


# --- the worker loop and the jobs kill switch -------------------------------------------------------------------


def test_the_worker_runs_batches_until_the_queue_is_empty(effects):
    jobs = [job_enqueue("test.effect") for _ in range(7)]
    worker = JobWorker(name="loop", batch_size=3, poll_seconds=0)
    assert worker.run_batch() == 3
    assert worker.run_batch() == 3
    assert worker.run_batch() == 1
    assert worker.run_batch() == 0
    assert effects.count() == 7 and {r[0] for r in effects.rows()} == {str(j.id) for j in jobs}
    assert job_status_counts()["done"] == 7


def test_the_jobs_kill_switch_pauses_dispatch_and_lifting_it_resumes(effects):
    job = job_enqueue("test.effect")
    killswitch_activate("jobs", reason="incident 42: stop the queue", actor=None)
    worker = JobWorker(name="paused", batch_size=5)
    assert worker.run_batch() == 0
    assert Job.objects.get(id=job.id).status == Job.Status.PENDING
    killswitch_deactivate("jobs", reason="incident 42 resolved", actor=None)
    assert worker.run_batch() == 1
    assert effects.count(job.id) == 1


def test_the_all_kill_switch_pauses_dispatch_too():
    job_enqueue("test.effect")
    killswitch_activate("all", reason="everything stops", actor=None)
    assert JobWorker(name="paused").run_batch() == 0


def test_a_job_in_flight_finishes_and_claimed_ones_go_back_when_the_switch_trips(effects):
    first = job_enqueue("test.halts_jobs", priority=10)
    rest = [job_enqueue("test.effect") for _ in range(2)]
    worker = JobWorker(name="w", batch_size=3)
    assert worker.run_batch() == 1
    assert Job.objects.get(id=first.id).status == Job.Status.DONE
    for job in rest:
        job.refresh_from_db()
        assert (job.status, job.attempts, job.locked_by) == (Job.Status.PENDING, 0, "")
    assert effects.count() == 1


def test_status_counts_cover_every_status():
    job_enqueue("test.effect")
    assert job_status_counts() == {"pending": 1, "processing": 0, "done": 0, "failed": 0}


# --- group commit -----------------------------------------------------------------------------------------------


# --- transient payload keys ---------------------------------------------------------------------------------------

TRANSIENT_TYPES = ["test.transient", "test.transient_external"]


@pytest.mark.parametrize("job_type", TRANSIENT_TYPES)
def test_a_done_job_keeps_no_transient_key(effects, job_type):
    job = job_enqueue(job_type, payload={"one_time": "s3cret", "order": 42})
    [claimed] = jobs_claim(worker="w1", types=[job_type])
    assert job_execute(claimed, worker="w1") == DONE
    job.refresh_from_db()
    assert (job.status, job.payload) == (Job.Status.DONE, {"order": 42})
    assert effects.count(job.id) == 1


def test_a_group_of_done_jobs_keeps_no_transient_key(effects):
    jobs = [job_enqueue("test.transient", payload={"one_time": "s3cret", "n": n}) for n in range(3)]
    plain = job_enqueue("test.effect", payload={"one_time": "not transient for this type"})
    claimed = jobs_claim(worker="w1", types=["test.transient", "test.effect"], limit=10)
    assert [outcome for _job, outcome in jobs_service.jobs_execute_group(claimed, worker="w1")] == [DONE] * 4
    assert [Job.objects.get(id=j.id).payload for j in jobs] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert Job.objects.get(id=plain.id).payload == {"one_time": "not transient for this type"}


def test_jobs_a_group_puts_back_keep_their_transient_keys(effects):
    """A group stopped midway: the jobs it did not run go back with everything their handler will need."""
    jobs = [job_enqueue("test.transient", payload={"one_time": "s3cret", "n": n}) for n in range(3)]
    claimed = jobs_claim(worker="w1", types=["test.transient"], limit=3)
    results = jobs_service.jobs_execute_group(claimed, worker="w1", keep_going=lambda: False)
    assert [outcome for _job, outcome in results] == [DONE]
    ran = results[0][0].id
    assert [Job.objects.get(id=j.id).payload for j in jobs if j.id != ran] == [
        {"one_time": "s3cret", "n": n} for n in range(3) if jobs[n].id != ran]
    assert Job.objects.get(id=ran).payload == {"n": next(n for n in range(3) if jobs[n].id == ran)}
    assert jobs_release([j for j in claimed if j.id != ran], worker="w1") == 2
    again = jobs_claim(worker="w2", types=["test.transient"], limit=3)
    assert [job_execute(j, worker="w2") for j in again] == [DONE, DONE]
    assert effects.count() == 3


def test_a_cancelled_job_keeps_no_transient_key():
    job = job_enqueue("test.transient", payload={"one_time": "s3cret", "n": 1})
    job_cancel(job, reason="not needed any more")
    job.refresh_from_db()
    assert (job.status, job.payload) == (Job.Status.FAILED, {"n": 1})


def test_a_retry_keeps_the_transient_key_and_the_dead_letter_never_gets_it(effects, fast_retries):
    job = job_enqueue("test.transient", payload={"one_time": "s3cret", "fail": True})
    [claimed] = jobs_claim(worker="w1", types=["test.transient"])
    assert job_execute(claimed, worker="w1") == RETRY
    assert Job.objects.get(id=job.id).payload == {"one_time": "s3cret", "fail": True}  # the next attempt needs it
    time.sleep(0.1)
    [claimed] = jobs_claim(worker="w1", types=["test.transient"])
    assert job_execute(claimed, worker="w1") == DEAD
    dead = DeadLetterJob.objects.get(original_job=job)
    assert dead.payload == {"fail": True} and Job.objects.get(id=job.id).payload == {"fail": True}
    assert "the provider refused" in dead.last_error


def test_a_job_the_reaper_dead_letters_keeps_no_transient_key():
    job = job_enqueue("test.transient", payload={"one_time": "s3cret"}, max_attempts=1)
    jobs_claim(worker="w1", types=["test.transient"])
    Job.objects.filter(id=job.id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    jobs_reap_expired()
    assert Job.objects.get(id=job.id).payload == {}
    assert DeadLetterJob.objects.get(original_job=job).payload == {}


def test_a_group_of_jobs_shares_one_transaction(effects, django_assert_max_num_queries):
    jobs = [job_enqueue("test.effect") for _ in range(10)]
    claimed = only_test_types(worker="w1", limit=10)
    # lock + mark done + one INSERT per handler (+ the savepoint pair of the test's own transaction):
    # per job, no transaction or savepoint of its own.
    with django_assert_max_num_queries(2 + 10 + 2):
        results = jobs_service.jobs_execute_group(claimed, worker="w1")
    assert [outcome for _job, outcome in results] == [DONE] * 10
    assert effects.count() == 10
    assert set(Job.objects.filter(id__in=[j.id for j in jobs]).values_list("status", flat=True)) == {"done"}


def test_a_failing_job_rolls_its_group_back_and_each_job_then_lands_once(effects, fast_retries):
    jobs = [job_enqueue("test.effect"), job_enqueue("test.effect"), job_enqueue("test.always_fails"),
            job_enqueue("test.effect")]
    worker = JobWorker(name="grouped", batch_size=10, group_seconds=10)
    assert worker.run_batch() == 4
    assert worker.outcomes == {DONE: 3, RETRY: 1}
    statuses = {j.id: Job.objects.get(id=j.id).status for j in jobs}
    assert [statuses[j.id] for j in jobs] == ["done", "done", "pending", "done"]
    assert sorted(r[0] for r in effects.rows()) == sorted(str(j.id) for j in jobs if j.type == "test.effect")


def test_a_group_stops_when_asked_and_puts_the_rest_back(effects):
    for _ in range(4):
        job_enqueue("test.effect")
    claimed = only_test_types(worker="w1", limit=4)
    asked = []

    def keep_going() -> bool:  # asked before the 2nd job (yes) and the 3rd (no)
        asked.append(1)
        return len(asked) < 2

    results = jobs_service.jobs_execute_group(claimed, worker="w1", keep_going=keep_going)
    assert [outcome for _job, outcome in results] == [DONE, DONE]
    rest = [j for j in claimed if j.id not in {job.id for job, _ in results}]
    assert [Job.objects.get(id=j.id).status for j in rest] == ["processing", "processing"]
    assert all(Job.objects.get(id=j.id).lease_expires_at > timezone.now() for j in rest)
    assert [job_execute(j, worker="w1") for j in rest] == [DONE, DONE]
    assert effects.count() == 4


def test_a_group_skips_a_job_it_lost_and_runs_the_others(effects):
    jobs = [job_enqueue("test.effect") for _ in range(3)]
    claimed = only_test_types(worker="w1", limit=3)
    Job.objects.filter(id=jobs[1].id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    jobs_reap_expired()
    only_test_types(worker="w2", limit=1)
    outcomes = {job.id: outcome for job, outcome in jobs_service.jobs_execute_group(claimed, worker="w1")}
    assert outcomes == {jobs[0].id: DONE, jobs[1].id: LOST, jobs[2].id: DONE}
    assert Job.objects.get(id=jobs[1].id).locked_by == "w2"
    assert effects.count(jobs[1].id) == 0
