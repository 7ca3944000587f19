"""The claim loop shared by ``manage.py run_jobs`` (embedded default) and the Celery dispatch task (production).

A ``JobWorker`` claims due jobs (one at a time or in batches), runs them one after the other (consecutive atomic
jobs share one commit, closed after ``JOBS_GROUP_COMMIT_SECONDS``), renews the leases of the jobs it holds from a
heartbeat thread, and periodically reaps expired leases and expired kill switches. The
``jobs`` kill switch stops new claims; a job already running finishes, and claimed jobs not yet started go back
to the queue untouched.
"""
from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from itertools import takewhile

from django.conf import settings
from django.db import close_old_connections, connections

from infrastructure.models import Job, KillSwitch
from infrastructure.services.jobs import (
    job_execute,
    job_is_atomic,
    jobs_claim,
    jobs_execute_group,
    jobs_heartbeat,
    jobs_reap_expired,
    jobs_release,
    lease_seconds_for,
)
from infrastructure.services.killswitches import killswitch_expire_due, killswitch_is_halted

logger = logging.getLogger("prostqs.jobs")


def worker_name(prefix: str = "worker") -> str:
    """Unique per worker instance: host, process and a random suffix (a restarted process is a new worker)."""
    return f"{prefix}:{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class _Heartbeat(threading.Thread):
    """Renews each held job's lease every third of that lease, so two beats can be missed before it runs out."""

    def __init__(self, worker: JobWorker) -> None:
        super().__init__(name=f"heartbeat {worker.name}", daemon=True)
        self.worker = worker
        self.stopped = threading.Event()

    def stop(self) -> None:
        self.stopped.set()
        self.worker._wake.set()

    def run(self) -> None:
        try:
            while not self.stopped.is_set():
                due, wait = self.worker._heartbeat_due()
                if due:
                    try:
                        jobs_heartbeat(due, worker=self.worker.name)
                    except Exception:  # a missed beat is retried; the lease has slack for two more
                        logger.exception("jobs: heartbeat of %s failed", self.worker.name)
                self.worker._wake.wait(max(wait, 0.01))
                self.worker._wake.clear()
        finally:
            connections.close_all()  # this thread's own connections


class JobWorker:
    def __init__(self, *, name: str | None = None, batch_size: int | None = None,
                 poll_seconds: float | None = None, reap_seconds: float | None = None,
                 group_seconds: float | None = None, types: Iterable[str] | None = None,
                 on_outcome: Callable[[Job, str], None] | None = None) -> None:
        """``types`` limits the job types this worker claims (default: every registered type); ``on_outcome`` is
        told of each job that ran and its outcome (``done``, ``retry``, ``dead`` or ``lost``)."""
        self.name = name or worker_name()
        self.batch_size = max(1, batch_size or settings.JOBS_BATCH_SIZE)
        self.poll_seconds = settings.JOBS_POLL_SECONDS if poll_seconds is None else poll_seconds
        self.reap_seconds = settings.JOBS_REAP_SECONDS if reap_seconds is None else reap_seconds
        self.group_seconds = settings.JOBS_GROUP_COMMIT_SECONDS if group_seconds is None else group_seconds
        self.types = list(types) if types is not None else None
        self.on_outcome = on_outcome
        self.stop_requested = threading.Event()
        self._held: dict = {}
        self._beat_at: dict = {}
        self._held_lock = threading.Lock()
        self._wake = threading.Event()
        self._next_upkeep = 0.0
        self.processed = 0
        self.outcomes: dict[str, int] = {}

    # -- state shared with the heartbeat thread

    def held(self) -> list[Job]:
        with self._held_lock:
            return list(self._held.values())

    def _hold(self, jobs: list[Job]) -> None:
        now = time.monotonic()
        with self._held_lock:
            self._held = {j.id: j for j in jobs}
            self._beat_at = {j.id: now + lease_seconds_for(j.type) / 3 for j in jobs}
        self._wake.set()

    def _drop(self, job: Job) -> None:
        with self._held_lock:
            self._held.pop(job.id, None)
            self._beat_at.pop(job.id, None)

    def _heartbeat_due(self) -> tuple[list[Job], float]:
        """The held jobs whose lease needs renewing now, and how long until the next one does."""
        now = time.monotonic()
        with self._held_lock:
            due = [self._held[i] for i, at in self._beat_at.items() if at <= now]
            for job in due:
                self._beat_at[job.id] = now + lease_seconds_for(job.type) / 3
            wait = min(self._beat_at.values(), default=now + 1.0) - now
        return due, wait

    # -- one step

    def paused(self) -> bool:
        return killswitch_is_halted(KillSwitch.Scope.JOBS)

    def run_batch(self) -> int:
        """Claim up to ``batch_size`` due jobs and run them. Returns how many ran (0: idle or paused)."""
        if self.stop_requested.is_set() or self.paused():
            return 0
        jobs = jobs_claim(worker=self.name, limit=self.batch_size, types=self.types)
        self._hold(jobs)
        ran_before = self.processed
        remaining = list(jobs)
        try:
            while remaining:
                if self._halting():
                    released = jobs_release(remaining, worker=self.name)
                    logger.info("jobs: %s released %s claimed job(s) unstarted (paused or stopping)",
                                self.name, released)
                    break
                if self.group_seconds > 0 and job_is_atomic(remaining[0].type):
                    group = list(takewhile(lambda j: job_is_atomic(j.type), remaining))
                    closes = time.monotonic() + self.group_seconds
                    results = jobs_execute_group(
                        group, worker=self.name,
                        keep_going=lambda closes=closes: time.monotonic() < closes and not self._halting())
                else:
                    results = [(remaining[0], job_execute(remaining[0], worker=self.name))]
                finished = {job.id for job, _outcome in results}
                for job, outcome in results:
                    self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
                    self._drop(job)
                    self.processed += 1
                    if self.on_outcome is not None:
                        self.on_outcome(job, outcome)
                remaining = [j for j in remaining if j.id not in finished]
        finally:
            self._hold([])
        return self.processed - ran_before

    def _halting(self) -> bool:
        return self.stop_requested.is_set() or self.paused()

    def upkeep(self, *, force: bool = False) -> None:
        """Reap expired leases and switch off expired kill switches, at most every ``reap_seconds``."""
        now = time.monotonic()
        if not force and now < self._next_upkeep:
            return
        self._next_upkeep = now + self.reap_seconds
        jobs_reap_expired()
        killswitch_expire_due()

    # -- the loop

    def run(self, *, until: float | None = None, stop_when_idle: bool = False, max_jobs: int | None = None,
            upkeep: bool = True, on_idle: Callable[[], None] | None = None) -> int:
        """Run until stopped, until the monotonic deadline ``until``, after ``max_jobs``, or (``stop_when_idle``)
        when nothing is due. Returns how many jobs ran."""
        heartbeat = _Heartbeat(self)
        heartbeat.start()
        started = self.processed
        try:
            while not self.stop_requested.is_set():
                if until is not None and time.monotonic() >= until:
                    break
                if max_jobs is not None and self.processed - started >= max_jobs:
                    break
                try:
                    if upkeep:
                        self.upkeep()
                    ran = self.run_batch()
                except Exception:  # a database hiccup must not kill the runner; it retries
                    logger.exception("jobs: %s loop step failed; retrying", self.name)
                    close_old_connections()
                    ran = 0
                    self.stop_requested.wait(max(self.poll_seconds, 1.0))
                    continue
                if ran:
                    continue
                if stop_when_idle:
                    break
                if on_idle:
                    on_idle()
                self.stop_requested.wait(self.poll_seconds)
        finally:
            heartbeat.stop()
            heartbeat.join(timeout=5)
        return self.processed - started

    def stop(self) -> None:
        """Finish the running job, give back the claimed ones not started, then return from ``run``."""
        self.stop_requested.set()

