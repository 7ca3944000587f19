"""Callbacks: how the apps above governance hear of what it decided, without governance importing them.

Upper apps register from their ``AppConfig.ready()``.

**Approval callbacks** — how waiting work continues or stops once its request is decided::

    register_approval_callback("billing", on_approved=payout_approved, on_rejected=payout_rejected)

A request names its callback (by default the one registered under its domain). When it is approved, rejected or
expires, the deciding transaction enqueues a ``governance.approval_callback`` job; the job calls ``on_approved``
or ``on_rejected`` with the request (``request.status`` tells rejected from expired), inside a transaction that
holds the request's row lock and marks it delivered, so a second delivery of the job does nothing. Delivery is
at least once, though: callbacks must themselves be safe to call twice (lock their own rows, check state).

**Authority listeners** — called inside the transaction that grants or revokes a decision authority, after its
audit event (institutional memory opens and ends the grant's lifecycle here)::

    register_authority_listener("memory", on_granted=grant_remember, on_revoked=grant_forget)

``on_granted(authority=…, granted_by=…, reason=…)`` and ``on_revoked(authority=…, revoked_by=…, reason=…)``;
``granted_by`` / ``revoked_by`` is a user or None for the system. An exception rolls the grant or revocation back.

**Policy-change listeners** — a policy change is shown to each listener twice, inside the changing transaction:
``before_save(policy=…)`` with the unsaved change (or the new active policy) while the stored policies are still
as they were, and ``after_save(policy=…, prepared=…, actor=…)`` once it is saved, with what ``before_save``
returned (institutional memory replays the decisions in force through the dry run, then opens their reviews)::

    register_policy_change_listener("memory", before_save=policy_changing, after_save=policy_changed)
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from governance.models import ApprovalRequest, DecisionAuthority, Policy

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


def _check_key(kind: str, key: str, registry: dict) -> None:
    if not isinstance(key, str) or not key or len(key) > 64:
        raise ImproperlyConfigured(f"{kind} are registered under a name of 1 to 64 characters")
    if key in registry:
        raise ImproperlyConfigured(f"{kind} for {key!r} are registered twice")


# --- authority listeners ------------------------------------------------------------------------------------------

AuthorityCallback = Callable[..., None]


@dataclass(frozen=True)
class AuthorityListener:
    key: str
    on_granted: AuthorityCallback
    on_revoked: AuthorityCallback


_AUTHORITY_LISTENERS: dict[str, AuthorityListener] = {}


def register_authority_listener(key: str, *, on_granted: AuthorityCallback, on_revoked: AuthorityCallback) -> None:
    """Register what ``key`` does when a decision authority is granted or revoked."""
    _check_key("authority listeners", key, _AUTHORITY_LISTENERS)
    if not callable(on_granted) or not callable(on_revoked):
        raise ImproperlyConfigured("authority listeners must be callables taking keyword arguments")
    _AUTHORITY_LISTENERS[key] = AuthorityListener(key, on_granted, on_revoked)


def unregister_authority_listener(key: str) -> None:
    _AUTHORITY_LISTENERS.pop(key, None)


def notify_authority_granted(*, authority: DecisionAuthority, granted_by, reason: str) -> None:
    for listener in list(_AUTHORITY_LISTENERS.values()):
        listener.on_granted(authority=authority, granted_by=granted_by, reason=reason)


def notify_authority_revoked(*, authority: DecisionAuthority, revoked_by, reason: str) -> None:
    for listener in list(_AUTHORITY_LISTENERS.values()):
        listener.on_revoked(authority=authority, revoked_by=revoked_by, reason=reason)


# --- policy-change listeners --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyChangeListener:
    key: str
    before_save: Callable[..., Any]
    after_save: Callable[..., None]


_POLICY_LISTENERS: dict[str, PolicyChangeListener] = {}


def register_policy_change_listener(key: str, *, before_save: Callable[..., Any],
                                    after_save: Callable[..., None]) -> None:
    """Register what ``key`` does around a policy change (see the module's docstring)."""
    _check_key("policy-change listeners", key, _POLICY_LISTENERS)
    if not callable(before_save) or not callable(after_save):
        raise ImproperlyConfigured("policy-change listeners must be callables taking keyword arguments")
    _POLICY_LISTENERS[key] = PolicyChangeListener(key, before_save, after_save)


def unregister_policy_change_listener(key: str) -> None:
    _POLICY_LISTENERS.pop(key, None)


@dataclass(frozen=True)
class PreparedPolicyChange:
    """What each listener made of a change before it was saved, handed back to it after."""

    prepared: tuple[tuple[PolicyChangeListener, Any], ...] = ()


def notify_policy_changing(*, policy: Policy) -> PreparedPolicyChange:
    return PreparedPolicyChange(tuple((listener, listener.before_save(policy=policy))
                                      for listener in list(_POLICY_LISTENERS.values())))


def notify_policy_changed(*, policy: Policy, prepared: PreparedPolicyChange, actor) -> None:
    for listener, value in prepared.prepared:
        listener.after_save(policy=policy, prepared=value, actor=actor)
