"""Failed console sign-ins, counted in ``rate_limit_entries`` (action ``console_login``).

Each failed password or second-factor code counts against the username and against the client address. After
``CONSOLE_LOGIN_MAX_FAILURES`` failures for a username (``CONSOLE_LOGIN_MAX_FAILURES_PER_IP`` for an address)
within ``CONSOLE_LOGIN_LOCKOUT_SECONDS``, that key is refused for ``CONSOLE_LOGIN_LOCKOUT_SECONDS``. Only a complete
sign-in (password and second factor) resets the username's counter, so the right password does not buy more
guesses at the code. An administrator can lift a lockout early from the rate-limit entries page.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from identity import events
from identity.models import RateLimitEntry

ACTION = RateLimitEntry.Action.CONSOLE_LOGIN


def user_key(username: str) -> str:
    return f"console-user:{(username or '').strip().lower()[:60]}"


def ip_key(ip: str | None) -> str:
    return f"console-ip:{ip or 'unknown'}"


def _limit(key: str) -> int:
    if key.startswith("console-ip:"):
        return settings.CONSOLE_LOGIN_MAX_FAILURES_PER_IP
    return settings.CONSOLE_LOGIN_MAX_FAILURES


def console_login_locked_until(keys: list[str], *, now: datetime | None = None) -> datetime | None:
    """When the latest lockout among ``keys`` ends, or ``None`` if none of them is locked out."""
    now = now or timezone.now()
    until = (RateLimitEntry.objects.filter(key__in=keys, action=ACTION, blocked_until__gt=now)
             .order_by("-blocked_until").values_list("blocked_until", flat=True).first())
    return until


@transaction.atomic
def console_login_failed(keys: list[str], *, now: datetime | None = None) -> datetime | None:
    """Count one failure against each key; return when the lockout ends if this failure started one."""
    now = now or timezone.now()
    window = timedelta(seconds=settings.CONSOLE_LOGIN_LOCKOUT_SECONDS)
    RateLimitEntry.objects.bulk_create([RateLimitEntry(key=k, action=ACTION, window_started_at=now) for k in keys],
                                       ignore_conflicts=True)
    locked = None
    for entry in RateLimitEntry.objects.select_for_update().filter(key__in=keys, action=ACTION).order_by("key"):
        if entry.window_started_at + window <= now or (entry.blocked_until and entry.blocked_until <= now):
            entry.attempt_count, entry.window_started_at = 0, now  # an old window or a served lockout: start again
            entry.blocked_until, entry.blocked_reason = None, RateLimitEntry.BlockReason.NONE
        entry.attempt_count += 1
        if entry.attempt_count >= _limit(entry.key) and not entry.is_blocked(now):
            entry.blocked_until = now + window
            entry.blocked_reason = RateLimitEntry.BlockReason.WINDOW_LIMIT
            locked = max(locked or entry.blocked_until, entry.blocked_until)
            audit_record(events.CONSOLE_LOGIN_LOCKED, action="lock", target_type="rate_limit_entry",
                         target_id=entry.pk, after={"count": entry.attempt_count,
                                                    "blocked_until": entry.blocked_until.isoformat()},
                         metadata={"key": entry.key})
        entry.save()
    return locked


def console_login_succeeded(username: str, *, now: datetime | None = None) -> None:
    """A full sign-in (password and second factor): the username's failures are forgiven, unless it is locked."""
    now = now or timezone.now()
    RateLimitEntry.objects.filter(key=user_key(username), action=ACTION).exclude(blocked_until__gt=now).update(
        attempt_count=0, window_started_at=now, blocked_until=None, blocked_reason=RateLimitEntry.BlockReason.NONE)
