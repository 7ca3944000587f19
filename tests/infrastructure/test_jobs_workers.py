"""Several real workers on PostgreSQL (and Redis for Celery): exactly-once effects, crashes, leases."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone

from infrastructure.models import Job
from infrastructure.services.jobs import job_enqueue, jobs_claim, jobs_reap_expired
from infrastructure.worker import JobWorker
from tests.infrastructure.conftest import child_env, start_worker

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def bulk_jobs(n: int, type: str = "test.effect") -> list[Job]:
    now = timezone.now()
    return Job.objects.bulk_create([Job(type=type, payload={"n": i}, next_run_at=now) for i in range(n)])


def wait_for(predicate, *, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> str:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""


def test_concurrent_claimers_never_take_the_same_job():
    bulk_jobs(400)
    claimed: dict[str, list] = {}
    barrier = threading.Barrier(4)

    def claimer(name: str) -> None:
        try:
            barrier.wait()
            mine = claimed.setdefault(name, [])
            while batch := jobs_claim(worker=name, limit=7, types=["test.effect"]):
                mine.extend(j.id for j in batch)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claimer, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [job_id for ids in claimed.values() for job_id in ids]
    assert len(every) == 400 and len(set(every)) == 400
    assert sum(1 for ids in claimed.values() if ids) >= 2  # they really competed
    assert Job.objects.filter(status=Job.Status.PROCESSING, attempts=1).count() == 400


@pytest.mark.redis
def test_four_celery_workers_run_2000_jobs_exactly_once(effects):
    jobs = bulk_jobs(2000)
    queue = f"infra-test-{uuid.uuid4().hex[:8]}"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tests.infrastructure.celery_worker", "worker", "--pool", "prefork",
         "--concurrency", "4", "--queues", queue, "--without-gossip", "--without-mingle", "--without-heartbeat",
         "--loglevel", "WARNING", "--hostname", f"{queue}@%h"],
        cwd=settings.BASE_DIR, env=child_env(JOBS_BATCH_SIZE="5"), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        from infrastructure.tasks import jobs_dispatch

        # More dispatches than processes: with prefetch 1 and late acks, each process runs one at a time.
        for _ in range(8):
            jobs_dispatch.apply_async(kwargs={"budget_seconds": 120}, queue=queue)
        wait_for(lambda: Job.objects.filter(status=Job.Status.DONE).count() == 2000, timeout=180, interval=0.5,
                 what="2000 jobs done")
    finally:
        output = stop(worker)
    rows = effects.rows()
    assert len(rows) == 2000, output[-3000:]
    assert {r[0] for r in rows} == {str(j.id) for j in jobs}  # each job's effect exactly once
    assert all(r[2] == 1 for r in rows)
    assert Job.objects.exclude(status=Job.Status.DONE).count() == 0
    processes = {w.split(":")[2] for w in Job.objects.values_list("locked_by", flat=True).distinct()}
    assert len(processes) == 4, f"worker processes that ran jobs: {processes}"


def test_a_worker_killed_mid_job_loses_it_after_its_lease_and_it_completes_once(effects, tmp_path):
    marker = tmp_path / "started"
    job = job_enqueue("test.slow", payload={"marker": str(marker)})
    victim = start_worker("--poll", "0.05", "--name", "victim")
    try:
        wait_for(marker.exists, timeout=60, what="the job to start in the victim")
        # The lease (1 s) runs out while the victim is alive and inside the handler: its row lock keeps the
        # reaper away, so a slow worker is never robbed.
        wait_for(lambda: Job.objects.get(id=job.id).lease_expires_at < timezone.now(), timeout=5,
                 what="the lease to run out")
        assert jobs_reap_expired() == 0
        assert Job.objects.get(id=job.id).locked_by == "victim"
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
    finally:
        stop(victim, signal.SIGKILL)
    assert effects.count(job.id) == 0  # the killed attempt's writes died with its transaction
    # The database notices the closed connection, drops the lock, and the expired lease is reaped.
    wait_for(lambda: jobs_reap_expired() == 1, timeout=10, what="the reaper to reclaim the job")
    reclaimed = Job.objects.get(id=job.id)
    assert (reclaimed.status, reclaimed.locked_by, reclaimed.attempts) == (Job.Status.PENDING, "", 1)
    assert "worker victim stopped" in reclaimed.last_error

    rescuer = start_worker("--until-idle", "--name", "rescuer")
    out, _ = rescuer.communicate(timeout=90)
    done = Job.objects.get(id=job.id)
    assert (done.status, done.attempts, done.locked_by) == (Job.Status.DONE, 2, "rescuer"), out
    assert effects.rows() == [(str(job.id), "rescuer", 2)]


def test_heartbeat_keeps_a_long_job_that_runs_outside_a_transaction(effects):
    job = job_enqueue("test.long_external", payload={"seconds": 2.0})  # lease 0.6 s
    worker = JobWorker(name="beating", batch_size=1)
    runner = threading.Thread(target=lambda: (worker.run(stop_when_idle=True, upkeep=False),
                                              connections.close_all()))
    runner.start()
    reaped = 0
    try:
        wait_for(lambda: Job.objects.get(id=job.id).status == Job.Status.PROCESSING, timeout=10, interval=0.02,
                 what="the job to start")
        while runner.is_alive():
            reaped += jobs_reap_expired()  # a reaper running all along, as the beat entry would
            time.sleep(0.05)
    finally:
        runner.join(timeout=30)
    done = Job.objects.get(id=job.id)
    assert reaped == 0
    assert (done.status, done.attempts) == (Job.Status.DONE, 1)
    assert effects.count(job.id) == 1


def test_without_heartbeat_the_same_long_job_would_have_been_reaped():
    """The control for the test above: the reaper does take an unrenewed lease of a non-atomic job."""
    job = job_enqueue("test.long_external", payload={"seconds": 2.0})
    [claimed] = jobs_claim(worker="silent", types=["test.long_external"])
    wait_for(lambda: jobs_reap_expired(now=timezone.now()) == 1, timeout=5, what="the lease to be reaped")
    assert Job.objects.get(id=claimed.id).status == Job.Status.PENDING
    assert Job.objects.get(id=job.id).lease_expires_at is None


def test_run_jobs_stops_cleanly_on_sigterm_and_gives_back_what_it_did_not_start(effects):
    bulk_jobs(3, type="test.effect")
    proc = start_worker("--poll", "0.05", "--batch-size", "1")
    wait_for(lambda: Job.objects.filter(status=Job.Status.DONE).count() == 3, timeout=60, what="jobs to run")
    out = stop(proc)
    assert proc.returncode == 0, out
    assert "stopped after 3 job(s)" in out
    assert Job.objects.filter(status=Job.Status.PROCESSING).count() == 0
    assert effects.count() == 3
