"""Job handlers of the governance app (registered from GovernanceConfig.ready())."""
from __future__ import annotations

from governance.services.approvals import (
    CALLBACK_JOB,
    EXPIRE_JOB,
    approval_callback_deliver,
    approval_requests_expire,
)
from infrastructure.models import Job
from infrastructure.services.jobs import register_handler


@register_handler(CALLBACK_JOB, max_attempts=10)
def deliver_approval_callback(job: Job) -> None:
    """At least once; the delivery itself applies once (see governance.callbacks)."""
    approval_callback_deliver(request_id=job.payload["request_id"])


@register_handler(EXPIRE_JOB, max_attempts=3)
def expire_approval_requests(job: Job) -> None:
    approval_requests_expire()
