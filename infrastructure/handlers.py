"""The infrastructure app's own job types."""
from __future__ import annotations

from infrastructure.models import Job
from infrastructure.services.jobs import register_handler


@register_handler("noop", max_attempts=1, description="Does nothing: checks the queue end to end.")
def noop(job: Job) -> None:
    """A probe: enqueue one and watch it reach ``done`` (the console's and the bench's end-to-end check)."""
