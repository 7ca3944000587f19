"""Celery tasks of the audit app: thin, each calls a service. Beat runs both (settings.CELERY_BEAT_SCHEDULE)."""
from __future__ import annotations

from celery import shared_task

from audit.services import audit_sequence, checkpoint_sign


@shared_task(name="audit.sequence", ignore_result=True)
def audit_sequence_task() -> int:
    """Safety net of the after-commit sequencing: chains whatever a crashed process left staged."""
    return audit_sequence()


@shared_task(name="audit.checkpoint", ignore_result=True)
def audit_checkpoint_task() -> str:
    return str(checkpoint_sign().path)
