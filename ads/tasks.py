"""Celery tasks of the ads app (beat entry ``ads.budgets_rollover`` in ``CELERY_BEAT_SCHEDULE``)."""
from __future__ import annotations

from celery import shared_task

from ads.services.budgets import budgets_rollover_due
from audit.context import scope


@shared_task(name="ads.budgets_rollover", ignore_result=True)
def budgets_rollover() -> int:
    """Open the next period of every daily or monthly budget whose period has ended. Returns how many opened."""
    with scope(actor_type="system", actor_id=None, app_id=None):
        return budgets_rollover_due()
