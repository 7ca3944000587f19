"""The durable jobs queue: enqueue inside the caller's transaction, handlers registered by type."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from infrastructure.models import Job
from prostqs.errors import InvalidInput

Handler = Callable[[Job], None]


@dataclass(frozen=True)
class JobType:
    name: str
    handler: Handler
    max_attempts: int


_HANDLERS: dict[str, JobType] = {}


def register_handler(name: str, *, max_attempts: int = 5) -> Callable[[Handler], Handler]:
    """Register the handler of a job type (from an app's ``AppConfig.ready()``).

    Handlers must be idempotent or guarded: delivery is at least once.
    """

    def decorate(handler: Handler) -> Handler:
        if name in _HANDLERS:
            raise ImproperlyConfigured(f"job type {name!r} has two handlers")
        _HANDLERS[name] = JobType(name, handler, max_attempts)
        return handler

    return decorate


def job_type(name: str) -> JobType:
    try:
        return _HANDLERS[name]
    except KeyError:
        raise InvalidInput(f"Unknown job type {name!r}.", code="unknown_job_type") from None


def job_enqueue(
    type: str,
    *,
    payload: dict[str, Any] | None = None,
    priority: int = 0,
    run_at: datetime | None = None,
    max_attempts: int | None = None,
) -> Job:
    """Create a job row in the current transaction; it runs only if the transaction commits."""
    spec = job_type(type)  # an unknown type is refused here, not when a worker finds it
    return Job.objects.create(
        type=type,
        payload=payload or {},
        priority=priority,
        next_run_at=run_at or timezone.now(),
        max_attempts=max_attempts or spec.max_attempts,
    )
