"""The ``queue_probe`` job: a canary of the jobs queue whose effect can be counted.

Each probe job records one ``QUEUE_PROBE_RAN`` audit event about its probe id, in the transaction that marks the
job done (an atomic handler). After any number of worker crashes, each probe has run once (one event) or was
dead-lettered (none). Operators can enqueue probes to check a deployment's queue end to end; the fault injection
script kills Celery workers under 100 of them.
"""
from __future__ import annotations

import time

from audit.events import register
from audit.services import audit_record
from infrastructure.services.jobs import register_handler

QUEUE_PROBE_RAN = register("QUEUE_PROBE_RAN", "A queue probe job ran (once per probe).")


@register_handler("queue_probe", max_attempts=10, description="Queue canary: records one audit event per probe.")
def queue_probe(job) -> None:
    seconds = float(job.payload.get("sleep", 0) or 0)
    if seconds:
        time.sleep(min(seconds, 5.0))
    audit_record(QUEUE_PROBE_RAN, action="probe", target_type="queue_probe", target_id=job.payload["probe_id"],
                 metadata={"job_id": str(job.id)}, actor_type="system")
