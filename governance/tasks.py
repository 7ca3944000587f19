"""Celery tasks: scheduled by beat (see CELERY_BEAT_SCHEDULE), each calls a service."""
from __future__ import annotations

from celery import shared_task

from audit import context
from governance.services.approvals import approval_requests_expire


@shared_task(name="governance.approvals_expire", ignore_result=True)
def approvals_expire() -> int:
    with context.scope(actor_id=None, actor_type="system", app_id=None, ip=None, user_agent=""):
        return approval_requests_expire()
