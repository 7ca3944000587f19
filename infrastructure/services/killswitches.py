"""Kill switches: "is scope X halted?" on every money and agent path, and the services that flip them.

The selector reads a per-process copy of the switches in force, refreshed at most every
``KILLSWITCH_CACHE_SECONDS`` (0.5 s by default): a check costs a dictionary lookup, and an activation committed in
any process is seen by every other process within that interval (tests measure it across two processes). Expiry
is evaluated on each check against the cached ``expires_at``, so an expired switch stops applying at once, and
``killswitch_expire_due`` (run periodically) then switches the row off with an audit event.

The process that flips a switch drops its own copy at once and again after commit, so it never acts on a stale
answer itself. If the flip rolls back, that process may see the uncommitted state until the next refresh: a halt
that lasts too long by at most one interval, never a missed one.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from core.errors import Conflict, InvalidInput
from core.validation import clean_reason
from infrastructure import events
from infrastructure.errors import KillSwitchActive
from infrastructure.models import KillSwitch

# (monotonic time of the read, {scope: switch}) of the switches marked active; None when it must be re-read.
_cache: tuple[float, dict[str, KillSwitch]] | None = None
_cache_lock = threading.Lock()


def killswitch_cache_clear() -> None:
    """Forget this process's copy: the next check reads the database."""
    global _cache
    _cache = None


def _active_switches() -> dict[str, KillSwitch]:
    global _cache
    cached = _cache
    started = time.monotonic()
    if cached is not None and started - cached[0] < settings.KILLSWITCH_CACHE_SECONDS:
        return cached[1]
    with _cache_lock:  # one reader per process refreshes; the others use its result
        cached = _cache
        if cached is not None and time.monotonic() - cached[0] < settings.KILLSWITCH_CACHE_SECONDS:
            return cached[1]
        # The read time is taken before the query: the copy is never considered fresher than it is.
        read_at = time.monotonic()
        switches = {s.scope: s for s in KillSwitch.objects.filter(active=True)}
        _cache = (read_at, switches)
        return switches


def killswitch_halted_scopes(*scopes: str, now: datetime | None = None) -> list[KillSwitch]:
    """The switches in force among ``scopes`` and ``all``."""
    switches = _active_switches()
    if not switches:
        return []
    now = now or timezone.now()
    wanted = (KillSwitch.Scope.ALL, *scopes)
    return [s for scope in dict.fromkeys(wanted) if (s := switches.get(scope)) is not None and s.is_in_force(now)]


def killswitch_is_halted(scope: str, *, now: datetime | None = None) -> bool:
    """Is ``scope`` (or ``all``) halted right now? Cheap enough for every money path."""
    return bool(killswitch_halted_scopes(scope, now=now))


def killswitch_ensure_running(*scopes: str) -> None:
    """Raise ``KillSwitchActive`` (HTTP 423) when any of ``scopes`` or ``all`` is halted."""
    halted = killswitch_halted_scopes(*scopes)
    if halted:
        switch = sorted(halted, key=lambda s: s.scope != KillSwitch.Scope.ALL)[0]
        raise KillSwitchActive(
            _("Halted by the %(scope)s kill switch: %(reason)s") % {"scope": switch.scope, "reason": switch.reason},
            extra={"scope": switch.scope},
        )


def killswitches_in_force() -> list[KillSwitch]:
    """Every switch in force now, read from the database (the dashboard's "active kill switches")."""
    now = timezone.now()
    return [s for s in KillSwitch.objects.filter(active=True).order_by("scope") if s.is_in_force(now)]


# --- services ---------------------------------------------------------------------------------------------------


def _snapshot(switch: KillSwitch) -> dict[str, Any]:
    return {"active": switch.active, "reason": switch.reason, "activated_by": switch.activated_by,
            "activated_at": switch.activated_at, "expires_at": switch.expires_at}


def _clean_scope(scope: str) -> str:
    if scope not in KillSwitch.Scope.values:
        raise InvalidInput(_("Unknown kill switch scope %(scope)r.") % {"scope": scope}, code="unknown_scope",
                           fields={"scope": [_("Choose one of: %(scopes)s.")
                                             % {"scopes": ", ".join(KillSwitch.Scope.values)}]})
    return scope


def _locked_switch(scope: str) -> KillSwitch:
    # The five rows come from a data migration; a database emptied by hand gets its row back on first use.
    KillSwitch.objects.get_or_create(scope=scope)
    return KillSwitch.objects.select_for_update().get(scope=scope)


def _actor_id(actor: Any) -> Any:
    return getattr(actor, "pk", actor)


def _audit_actor(actor: Any) -> dict[str, Any]:
    if actor is None:
        return {}
    kwargs: dict[str, Any] = {"actor_id": _actor_id(actor)}
    if getattr(actor, "is_staff", False):
        kwargs["actor_type"] = "admin"
    return kwargs


def _save_with_history(switch: KillSwitch, *, reason: str, actor: Any) -> None:
    switch._change_reason = reason
    if hasattr(actor, "_meta") and getattr(actor, "pk", None) is not None:
        switch._history_user = actor
    switch.save()
    killswitch_cache_clear()
    transaction.on_commit(killswitch_cache_clear)


@transaction.atomic
def killswitch_activate(scope: str, *, reason: str, actor: Any, expires_at: datetime | None = None) -> KillSwitch:
    """Halt ``scope`` (``all`` halts everything) until deactivated or until ``expires_at``.

    Activating a switch that is already in force replaces its reason and expiry (audited the same way).
    """
    scope, reason = _clean_scope(scope), clean_reason(reason, message=_("A kill switch needs a reason."))
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise InvalidInput(_("The expiry must be in the future."), code="expiry_in_past",
                           fields={"expires_at": [_("Ensure this date is in the future.")]})
    switch = _locked_switch(scope)
    before = _snapshot(switch)
    switch.active, switch.reason, switch.expires_at = True, reason, expires_at
    switch.activated_by, switch.activated_at = _actor_id(actor), now
    _save_with_history(switch, reason=reason, actor=actor)
    audit_record(events.KILL_SWITCH_ACTIVATED, action="activate", target_type="kill_switch", target_id=switch.id,
                 before=before, after=_snapshot(switch), reason=reason, metadata={"scope": scope},
                 **_audit_actor(actor))
    return switch


@transaction.atomic
def killswitch_deactivate(scope: str, *, reason: str, actor: Any) -> KillSwitch:
    """Lift the ``scope`` switch. The reason is kept on the row, in its history and in the audit log."""
    scope, reason = _clean_scope(scope), clean_reason(reason, message=_("A kill switch needs a reason."))
    switch = _locked_switch(scope)
    if not switch.active:
        raise Conflict(_("The %(scope)s kill switch is not active.") % {"scope": scope}, code="kill_switch_inactive")
    before = _snapshot(switch)
    switch.active, switch.reason, switch.expires_at = False, reason, None
    _save_with_history(switch, reason=reason, actor=actor)
    audit_record(events.KILL_SWITCH_DEACTIVATED, action="deactivate", target_type="kill_switch",
                 target_id=switch.id, before=before, after=_snapshot(switch), reason=reason,
                 metadata={"scope": scope}, **_audit_actor(actor))
    return switch


@transaction.atomic
def killswitch_expire_due(*, now: datetime | None = None) -> int:
    """Switch off the switches whose expiry has passed (they already stopped applying). Returns how many."""
    now = now or timezone.now()
    due = list(KillSwitch.objects.select_for_update().filter(active=True, expires_at__lte=now))
    for switch in due:
        before = _snapshot(switch)
        switch.active = False
        reason = _("expired at %(when)s") % {"when": switch.expires_at.isoformat()}
        _save_with_history(switch, reason=reason, actor=None)
        audit_record(events.KILL_SWITCH_EXPIRED, action="expire", target_type="kill_switch", target_id=switch.id,
                     before=before, after=_snapshot(switch), reason=reason, metadata={"scope": switch.scope},
                     actor_type="system")
    return len(due)
