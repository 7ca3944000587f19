"""Approval callbacks: how waiting work continues or stops once its request is decided.

Upper apps register from their ``AppConfig.ready()``::

    register_approval_callback("billing", on_approved=payout_approved, on_rejected=payout_rejected)

A request names its callback (by default the one registered under its domain). When it is approved, rejected or
expires, the deciding transaction enqueues a ``governance.approval_callback`` job; the job calls ``on_approved``
or ``on_rejected`` with the request (``request.status`` tells rejected from expired), inside a transaction that
holds the request's row lock and marks it delivered, so a second delivery of the job does nothing. Delivery is
at least once, though: callbacks must themselves be safe to call twice (lock their own rows, check state).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from governance.models import ApprovalRequest

Callback = Callable[["ApprovalRequest"], None]


@dataclass(frozen=True)
class ApprovalCallback:
    key: str
    on_approved: Callback
    on_rejected: Callback


_REGISTRY: dict[str, ApprovalCallback] = {}


def register_approval_callback(domain: str, on_approved: Callback, on_rejected: Callback) -> None:
    """Register the callbacks of ``domain`` (or of any key a request names as its ``callback``)."""
    if not isinstance(domain, str) or not domain or len(domain) > 64:
        raise ImproperlyConfigured("approval callbacks are registered under a domain name of 1 to 64 characters")
    if domain in _REGISTRY:
        raise ImproperlyConfigured(f"approval callbacks for {domain!r} are registered twice")
    if not callable(on_approved) or not callable(on_rejected):
        raise ImproperlyConfigured("approval callbacks must be callables taking the approval request")
    _REGISTRY[domain] = ApprovalCallback(domain, on_approved, on_rejected)


def unregister_approval_callback(domain: str) -> None:
    _REGISTRY.pop(domain, None)


def approval_callback(key: str) -> ApprovalCallback | None:
    return _REGISTRY.get(key)


def registered_callbacks() -> list[str]:
    return sorted(_REGISTRY)
