"""Failed console sign-ins, counted in ``rate_limit_entries`` (action ``console_login``).

Each password or second-factor code counts against the username and against the client address. After
``CONSOLE_LOGIN_MAX_FAILURES`` failures for a username (``CONSOLE_LOGIN_MAX_FAILURES_PER_IP`` for an address)
within ``CONSOLE_LOGIN_LOCKOUT_SECONDS``, that key is refused for ``CONSOLE_LOGIN_LOCKOUT_SECONDS``. Only a complete
sign-in (password and second factor) resets the username's counter, so the right password does not buy more
guesses at the code. An administrator can lift a lockout early from the rate-limit entries page.

A guess is counted *before* it is checked, in the same locked step as the limit check
(:func:`console_login_attempt`), and given back once it proves right (:func:`console_login_passed`). Counting only
after the check let parallel requests all pass the check first: forty wrong passwords sent at once were all
checked against a limit of five. Now a guess beyond the limit, in flight or counted, is refused before the
password or code is looked at. A guess whose check never finishes (the worker dies) stays counted, as a failure.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
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


def _window() -> timedelta:
    return timedelta(seconds=settings.CONSOLE_LOGIN_LOCKOUT_SECONDS)


def console_login_locked_until(keys: list[str], *, now: datetime | None = None) -> datetime | None:
    """When the latest lockout among ``keys`` ends, or ``None`` if none of them is locked out (for pages that
    show the lock; a guess itself goes through :func:`console_login_attempt`)."""
    now = now or timezone.now()
    until = (RateLimitEntry.objects.filter(key__in=keys, action=ACTION, blocked_until__gt=now)
             .order_by("-blocked_until").values_list("blocked_until", flat=True).first())
    return until


def _locked_entries(keys: list[str], now: datetime) -> list[RateLimitEntry]:
    """The entries of ``keys``, created when missing, locked in key order (so that two requests never wait on
    each other's second row)."""
    RateLimitEntry.objects.bulk_create([RateLimitEntry(key=k, action=ACTION, window_started_at=now) for k in keys],
                                       ignore_conflicts=True)
    return list(RateLimitEntry.objects.select_for_update().filter(key__in=keys, action=ACTION).order_by("key"))


@transaction.atomic
def console_login_attempt(keys: list[str], *, now: datetime | None = None) -> datetime | None:
    """Take one guess (a password or a code about to be checked) against every key, or refuse it.

    Returns ``None`` when the guess may be checked: it now counts against each key until
    :func:`console_login_passed` gives it back or :func:`console_login_failed` settles it. Otherwise returns when
    the sign-in may be tried again, and nothing is counted: a key is locked out, or its failures and the guesses
    being checked right now already make its limit.
    """
    now = now or timezone.now()
    window = _window()
    entries = _locked_entries(keys, now)
    refused_until = None
    for entry in entries:
        if entry.window_started_at + window <= now or (entry.blocked_until and entry.blocked_until <= now):
            entry.attempt_count, entry.window_started_at = 0, now  # an old window or a served lockout: start again
            entry.blocked_until, entry.blocked_reason = None, RateLimitEntry.BlockReason.NONE
        if entry.is_blocked(now):
            until = entry.blocked_until
        elif entry.attempt_count >= _limit(entry.key):
            until = entry.window_started_at + window  # the limit is taken by guesses still being checked
        else:
            continue
        refused_until = max(refused_until or until, until)
    if refused_until is not None:
        return refused_until
    for entry in entries:
        entry.attempt_count += 1
        entry.save(update_fields=["attempt_count", "window_started_at", "blocked_until", "blocked_reason",
                                  "updated_at"])
    return None


@transaction.atomic
def console_login_failed(keys: list[str], *, now: datetime | None = None) -> datetime | None:
    """The guess taken by :func:`console_login_attempt` was wrong: it stays counted, and a key whose count has
    reached its limit is locked out. Returns when the lockout ends if this failure started one."""
    now = now or timezone.now()
    window = _window()
    locked = None
    for entry in _locked_entries(keys, now):
        if entry.attempt_count >= _limit(entry.key) and not entry.is_blocked(now):
            entry.blocked_until = now + window
            entry.blocked_reason = RateLimitEntry.BlockReason.WINDOW_LIMIT
            locked = max(locked or entry.blocked_until, entry.blocked_until)
            audit_record(events.CONSOLE_LOGIN_LOCKED, action="lock", target_type="rate_limit_entry",
                         target_id=entry.pk, after={"count": entry.attempt_count,
                                                    "blocked_until": entry.blocked_until.isoformat()},
                         metadata={"key": entry.key})
            entry.save(update_fields=["blocked_until", "blocked_reason", "updated_at"])
    return locked


def console_login_passed(keys: list[str]) -> None:
    """The guess taken by :func:`console_login_attempt` was right: give it back (one statement, so no lock)."""
    RateLimitEntry.objects.filter(key__in=keys, action=ACTION, attempt_count__gt=0).update(
        attempt_count=F("attempt_count") - 1, updated_at=timezone.now())


def console_login_succeeded(username: str, *, now: datetime | None = None) -> None:
    """A full sign-in (password and second factor): the username's failures are forgiven, unless it is locked."""
    now = now or timezone.now()
    RateLimitEntry.objects.filter(key=user_key(username), action=ACTION).exclude(blocked_until__gt=now).update(
        attempt_count=0, window_started_at=now, blocked_until=None, blocked_reason=RateLimitEntry.BlockReason.NONE)
