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
    @register_handler(ROLLOVER_JOB, max_attempts=10,
                      description="Open the next period of a daily or monthly ad budget (queued for its end).")
    def _budget_rollover(job: Job) -> None:
        budget_rollover(budget_id=job.payload["budget_id"])

    # Not atomic: each budget rolls over in a transaction of its own, so one failure does not hold back the rest.
    @register_handler(ROLLOVER_SWEEP_JOB, max_attempts=3, atomic=False,
                      description="Open the next period of every ad budget whose period has ended (safety net).")
    def _budgets_rollover_due(job: Job) -> None:
        budgets_rollover_due()
