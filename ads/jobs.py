"""The ads app's job handlers, registered with the jobs queue from ``AdsConfig.ready()``.

Delivery is at least once: both handlers are idempotent (a budget opens its next period once, however often it
is asked to).
"""
from __future__ import annotations

from ads.services.budgets import ROLLOVER_JOB, budget_rollover, budgets_rollover_due
from infrastructure.models import Job
from infrastructure.services.jobs import register_handler

ROLLOVER_SWEEP_JOB = "ads_budgets_rollover_due"


def register() -> None:
    @register_handler(ROLLOVER_JOB, max_attempts=10)
    def _budget_rollover(job: Job) -> None:
        """Queued for the end of each daily or monthly period, when the budget is created or rolled over."""
        budget_rollover(budget_id=job.payload["budget_id"])

    @register_handler(ROLLOVER_SWEEP_JOB, max_attempts=3)
    def _budgets_rollover_due(job: Job) -> None:
        """Every budget whose period has ended (the safety net if a period's own job was lost or late)."""
        budgets_rollover_due()
