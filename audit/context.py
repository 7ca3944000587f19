"""Who is acting, from where: picked up by ``audit_record`` without every caller passing it.

The middleware binds the request's IP, user agent and console user; API authentication classes bind the calling
app or user once they are known; Celery tasks run as ``system``. Everything is a ``ContextVar``, so threads and
tasks never see each other's context.
"""
from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass, replace

from django.http import HttpRequest, HttpResponse


@dataclass(frozen=True)
class AuditContext:
    actor_id: uuid.UUID | None = None
    actor_type: str = "system"
    app_id: uuid.UUID | None = None
    ip: str | None = None
    user_agent: str = ""


_EMPTY = AuditContext()
_current: ContextVar[AuditContext | None] = ContextVar("audit_context", default=None)


def current() -> AuditContext:
    return _current.get() or _EMPTY


def bind(**changes) -> None:
    """Add to the current context (for the rest of the request or task)."""
    _current.set(replace(current(), **changes))


@contextlib.contextmanager
def scope(**values) -> Iterator[AuditContext]:
    """Run a block with its own context, restored afterwards."""
    token = _current.set(replace(current(), **values))
    try:
        yield current()
    finally:
        _current.reset(token)


def client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: a proxy's X-Forwarded-For is trusted by configuring the proxy, not by reading a header
    # any client can set.
    return request.META.get("REMOTE_ADDR") or None


class AuditContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # A whole new context for the request (what ``scope`` does with every field given), set directly: this runs
        # on every request.
        user = getattr(request, "user", None)
        actor_id, actor_type = None, "system"
        if user is not None and user.is_authenticated:
            actor_id, actor_type = user.pk, "admin" if user.is_staff else "user"
        token = _current.set(AuditContext(actor_id=actor_id, actor_type=actor_type, app_id=None, ip=client_ip(request),
                                          user_agent=request.META.get("HTTP_USER_AGENT", "")[:512]))
        try:
            return self.get_response(request)
        finally:
            _current.reset(token)


# Celery: every task runs as ``system`` with no request attached, whoever enqueued it (in eager mode the task runs
# inside the caller's request; its context is restored when the task ends).
_task_tokens: dict[str, Token] = {}


def _task_started(task_id: str | None = None, **kwargs) -> None:
    _task_tokens[task_id or ""] = _current.set(AuditContext(actor_type="system"))


def _task_finished(task_id: str | None = None, **kwargs) -> None:
    token = _task_tokens.pop(task_id or "", None)
    if token is None:
        return
    try:
        _current.reset(token)
    except ValueError:  # the token belongs to another context (a pool that moved the task): start clean
        _current.set(None)


def connect_celery_signals() -> None:
    from celery.signals import task_postrun, task_prerun

    task_prerun.connect(_task_started, weak=False, dispatch_uid="audit.context.task_started")
    task_postrun.connect(_task_finished, weak=False, dispatch_uid="audit.context.task_finished")
