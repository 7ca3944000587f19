"""Celery wiring (at-least-once settings, beat entries, tasks), startup checks and the demo data."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.utils import timezone

from infrastructure import tasks
from infrastructure.models import DeadLetterJob, Job, KillSwitch, Secret
from infrastructure.services.jobs import job_enqueue, jobs_claim, register_handler
from infrastructure.services.killswitches import killswitch_activate
from prostqs.celery import app

pytestmark = pytest.mark.smoke


def test_celery_is_configured_for_at_least_once_delivery():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    visibility = app.conf.broker_transport_options["visibility_timeout"]
    assert visibility > settings.JOBS_LEASE_SECONDS and visibility > settings.JOBS_DISPATCH_SECONDS


def test_beat_drives_the_claim_loop_the_reaper_and_kill_switch_expiry():
    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"infrastructure.jobs_dispatch", "infrastructure.jobs_reap",
            "infrastructure.killswitches_expire"} <= scheduled
    assert scheduled <= set(app.tasks)


def test_startup_refuses_a_visibility_timeout_shorter_than_a_lease(settings):
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 30}
    settings.JOBS_LEASE_SECONDS = 60
    with pytest.raises(ImproperlyConfigured, match="VISIBILITY"):
        apps.get_app_config("infrastructure").ready()


def test_a_job_type_lease_must_be_shorter_than_the_visibility_timeout():
    with pytest.raises(ImproperlyConfigured, match="visibility timeout"):
        register_handler("test.too_long", lease_seconds=10 ** 6)


@pytest.mark.django_db
def test_the_dispatch_task_runs_due_jobs_until_idle(effects):
    jobs = [job_enqueue("test.effect") for _ in range(4)]
    ran = tasks.jobs_dispatch.apply(kwargs={"budget_seconds": 30, "batch_size": 3}).get()
    assert ran == 4
    assert effects.count() == 4
    assert set(Job.objects.filter(id__in=[j.id for j in jobs]).values_list("status", flat=True)) == {"done"}


@pytest.mark.django_db
def test_the_dispatch_task_does_nothing_while_jobs_are_halted():
    job_enqueue("test.effect")
    killswitch_activate("jobs", reason="maintenance", actor=None)
    assert tasks.jobs_dispatch.apply(kwargs={"budget_seconds": 5}).get() == 0
    assert Job.objects.get().status == Job.Status.PENDING


@pytest.mark.django_db
def test_the_reap_and_expiry_tasks():
    job = job_enqueue("test.effect")
    jobs_claim(worker="gone", types=["test.effect"])
    Job.objects.filter(id=job.id).update(lease_expires_at=timezone.now() - timedelta(seconds=5))
    assert tasks.jobs_reap.apply().get() == 1
    switch = killswitch_activate("ads", reason="short", actor=None, expires_at=timezone.now() + timedelta(hours=1))
    KillSwitch.objects.filter(id=switch.id).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert tasks.killswitches_expire.apply().get() == 1
    assert not KillSwitch.objects.get(scope="ads").active


@pytest.mark.django_db
def test_run_jobs_until_idle(effects):
    for _ in range(3):
        job_enqueue("test.effect")
    out = io.StringIO()
    call_command("run_jobs", "--until-idle", "--batch-size", "2", "--name", "cmd", stdout=out)
    assert "stopped after 3 job(s)" in out.getvalue()
    assert effects.count() == 3


@pytest.mark.django_db
def test_demo_data_is_idempotent_and_shows_the_queue():
    call_command("seed_demo", stdout=io.StringIO())
    counts = (Job.objects.count(), DeadLetterJob.objects.count(), Secret.objects.count(), KillSwitch.objects.count())
    call_command("seed_demo", stdout=io.StringIO())
    assert counts == (Job.objects.count(), DeadLetterJob.objects.count(), Secret.objects.count(),
                      KillSwitch.objects.count())
    assert counts[1:] == (1, 2, 5) and counts[0] >= 3  # secrets: the demo one and the demo app's signing secret
    assert not KillSwitch.objects.filter(active=True).exists()
