"""Job handlers of the identity app, registered with the infrastructure queue."""
from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from identity.services.otp import OTP_SEND_JOB, otp_deliver
from identity.services.webhooks import WEBHOOK_JOB, webhook_deliver
from infrastructure.models import Job
from infrastructure.services.jobs import PermanentJobFailure, register_handler


# Not atomic: the provider is called over the network, and no transaction may stay open meanwhile.
# The sealed code is transient: gone from the job once it is done, and never copied into a dead letter.
@register_handler(OTP_SEND_JOB, max_attempts=3, atomic=False, transient=("sealed_code",),
                  description="Send a verification code through the configured SMS/WhatsApp sender.")
def otp_send(job: Job) -> None:
    """Send a verification code (sealed in the payload). Idempotent: a sent or stale verification is skipped, and
    so is a requeued dead letter, which no longer carries the code (the person asks for a new one)."""
    try:
        otp_deliver(verification_id=job.payload["verification_id"], sealed_code=job.payload.get("sealed_code"))
    except ImproperlyConfigured as exc:  # no attempt can succeed until the settings are fixed: dead-letter at once
        raise PermanentJobFailure(str(exc)) from None


# Not atomic: it waits on the network, outside any transaction (the worker's heartbeat keeps its lease).
@register_handler(WEBHOOK_JOB, max_attempts=settings.APP_WEBHOOK_MAX_ATTEMPTS, atomic=False,
                  description="POST a signed event to an application's webhook URL; retried, then dead-lettered.")
def webhook(job: Job) -> None:
    webhook_deliver(job=job)
