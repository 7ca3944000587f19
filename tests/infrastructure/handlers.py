"""Job types that exist only in tests. Imported by the test conftest and by the worker processes tests start.

Effects go to a plain table (``infra_test_effects``, created by the ``effects`` fixture) with no unique
constraint, so an effect applied twice shows up as two rows.
"""
from __future__ import annotations

import time
from pathlib import Path

from django.db import connection

from infrastructure.models import Job
from infrastructure.services.jobs import PermanentJobFailure, register_handler
from infrastructure.services.killswitches import killswitch_activate

EFFECTS = "infra_test_effects"


def record_effect(job: Job) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {EFFECTS} (job_id, worker, attempt) VALUES (%s, %s, %s)",
                       [str(job.id), job.locked_by, job.attempts])


@register_handler("test.effect")
def effect(job: Job) -> None:
    record_effect(job)


@register_handler("test.always_fails", max_attempts=4)
def always_fails(job: Job) -> None:
    record_effect(job)  # rolled back with the failed attempt
    raise RuntimeError(f"boom on attempt {job.attempts}")


@register_handler("test.refused", max_attempts=4)
def refused(job: Job) -> None:
    record_effect(job)
    raise PermanentJobFailure("the configuration refuses this; retrying cannot help")


@register_handler("test.transient", max_attempts=2, transient=("one_time",))
def transient(job: Job) -> None:
    """Needs ``one_time`` on every attempt; fails while ``fail`` is set."""
    assert job.payload["one_time"] == "s3cret"
    record_effect(job)
    if job.payload.get("fail"):
        raise RuntimeError("the provider refused")


@register_handler("test.transient_external", atomic=False, transient=("one_time",))
def transient_external(job: Job) -> None:
    assert job.payload["one_time"] == "s3cret"
    record_effect(job)


@register_handler("test.slow", lease_seconds=1.0)
def slow(job: Job) -> None:
    """The first attempt records its effect, says it started, then hangs until its process is killed."""
    record_effect(job)
    if job.attempts == 1:
        Path(job.payload["marker"]).write_text(job.locked_by)
        time.sleep(120)


@register_handler("test.long_external", atomic=False, lease_seconds=0.6)
def long_external(job: Job) -> None:
    """Outside any transaction and longer than its lease: only the heartbeat keeps it."""
    time.sleep(job.payload["seconds"])
    record_effect(job)


@register_handler("test.halts_jobs")
def halts_jobs(job: Job) -> None:
    record_effect(job)
    killswitch_activate("jobs", reason="halted from inside a running job", actor=None)
