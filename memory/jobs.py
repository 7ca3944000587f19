"""Job handlers of institutional memory (registered from MemoryConfig.ready())."""
from __future__ import annotations

from infrastructure.models import Job
from infrastructure.services.jobs import register_handler
from memory.services import TICK_JOB, memory_tick


@register_handler(TICK_JOB, max_attempts=3,
                  description="Expire decision lifecycles that are due and open the reviews that are due.")
def memory_tick_job(job: Job) -> None:
    memory_tick()
