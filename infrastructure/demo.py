"""Demo data for the console: the five kill switches (inactive), a few finished jobs, a dead letter to requeue and
a development secret. Idempotent."""
from __future__ import annotations

import secrets
from datetime import timedelta

from django.utils import timezone

from infrastructure.models import DeadLetterJob, Job, KillSwitch, Secret
from infrastructure.services.secrets import secret_put

DEMO_MARK = {"demo": True}


def seed(stdout) -> None:
    for scope in KillSwitch.Scope.values:
        KillSwitch.objects.get_or_create(scope=scope)
    if not Job.objects.filter(type="noop", payload__demo=True).exists():
        now = timezone.now()
        for minutes in (30, 20):
            at = now - timedelta(minutes=minutes)
            Job.objects.create(type="noop", payload={**DEMO_MARK, "note": "queue probe"}, status=Job.Status.DONE,
                               attempts=1, max_attempts=1, locked_by="demo", created_at=at, next_run_at=at,
                               finished_at=at + timedelta(seconds=1))
        failed = Job.objects.create(
            type="noop", payload={**DEMO_MARK, "note": "requeue me from the dead letters"}, status=Job.Status.FAILED,
            attempts=1, max_attempts=1, locked_by="demo", created_at=now - timedelta(minutes=10),
            next_run_at=now - timedelta(minutes=10), finished_at=now - timedelta(minutes=9),
            last_error="ConnectionError: the receiving endpoint refused the connection (demo)")
        DeadLetterJob.objects.create(original_job=failed, type=failed.type, payload=failed.payload,
                                     attempts=failed.attempts, last_error=failed.last_error,
                                     failed_at=failed.finished_at)
    if not Secret.objects.filter(name="demo.webhook_signing_key", environment="development").exists():
        secret_put("demo.webhook_signing_key", secrets.token_urlsafe(32), type=Secret.Type.ENCRYPTION_KEY,
                   environment="development")
    stdout.write("  infrastructure: 5 kill switches (inactive), demo jobs and a dead letter, a development secret")
