"""Errors raised by services, independent of the HTTP layer.

Services raise a ``ServiceError`` subclass with a stable machine-readable ``code``; the API layer
(``core.api.exception_handler``) turns it into the project's one JSON error shape with ``status``.
"""
from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status = 400
    code = "bad_request"
    message = "The request cannot be carried out."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.message = str(message or self.message)
        self.code = code or self.code
        self.fields = fields or {}
        self.status = status or self.status
        self.headers = headers or {}
        self.extra = extra or {}
        super().__init__(self.message)

    # A refusal that must leave a trace (an audit event) although the refused operation rolls back: its class sets
    # this and implements ``record_refusal``, which the interface answering the error calls once the operation's
    # transaction is gone (``core.api.exception_handler``; the agents' executor for a decision).
    records_refusal = False

    def record_refusal(self) -> None:
        """Write the refusal's audit event (see ``records_refusal``); nothing by default."""


class InvalidInput(ServiceError):
    status = 400
    code = "validation_error"
    message = "Invalid input."


class NotFound(ServiceError):
    status = 404
    code = "not_found"
    message = "Not found."


class Forbidden(ServiceError):
    status = 403
    code = "permission_denied"
    message = "You do not have permission to perform this action."


class Conflict(ServiceError):
    status = 409
    code = "conflict"
    message = "The request conflicts with the current state."


class Gone(ServiceError):
    status = 410
    code = "gone"
    message = "This resource is no longer available."


class Locked(ServiceError):
    """A kill switch or a similar guard stops the operation."""

    status = 423
    code = "kill_switch_active"
    message = "This operation is halted by a kill switch."


class TooManyRequests(ServiceError):
    status = 429
    code = "throttled"
    message = "Too many requests."

    def __init__(self, message: str | None = None, *, retry_after: int, **kwargs: Any) -> None:
        headers = {"Retry-After": str(max(1, int(retry_after)))}
        super().__init__(message, headers=headers, extra={"retry_after": max(1, int(retry_after))}, **kwargs)
