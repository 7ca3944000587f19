"""Celery tasks of the composition root: the daily integrity check (beat entry ``prostqs.verify_all``)."""
from __future__ import annotations

from celery import shared_task

from audit.context import scope
from console import integrity


@shared_task(name="prostqs.verify_all", ignore_result=True)
def verify_all_task() -> bool:
    """Run every verifier; a failure activates the integrity kill switch (``INTEGRITY_FAILURE_KILL_SWITCH``)."""
    with scope(actor_type="system", actor_id=None, app_id=None):
        return integrity.run_all(trigger="schedule", alert=True).ok
