"""Job handlers of the agents app, registered with the jobs queue from ``AgentsConfig.ready()``."""
from __future__ import annotations

from agents.services.risk import risk_scores_recompute
from infrastructure.models import Job
from infrastructure.services.jobs import register_handler

RISK_RECOMPUTE_JOB = "agents_risk_recompute"


def register() -> None:
    @register_handler(RISK_RECOMPUTE_JOB, max_attempts=3,
                      description="Recompute the risk scores of apps and agents; append risk_history.")
    def _risk_recompute(job: Job) -> None:
        risk_scores_recompute()
