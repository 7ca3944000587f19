"""Phone sign-in by one-time code: start (limits, code, queued sending) and verify (attempts, sign-in).

Limits are counted in ``rate_limit_entries`` under row locks, never in a cache: sends per phone, per IP address and
per number prefix in a fixed window; consecutive wrong codes per phone (a block only an administrator lifts).
Answers never depend on whether a phone belongs to a user, until the right code has been entered.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from core.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound, ServiceError, TooManyRequests
from identity import crypto, events
from identity.models import (
    BLOCKED_UNTIL_CLEARED,
    Application,
    AppUser,
    PendingVerification,
    RateLimitEntry,
    SovereignIdentity,
    User,
)
from identity.phones import phone_mask, phone_normalize, phone_prefix
from identity.senders import OtpMessage, get_sender
from identity.services.sessions import OpenedSession, session_open
from identity.services.users import identity_get_or_create
from infrastructure.services.jobs import job_enqueue

OTP_SEND_JOB = "otp_send"
# What a client is told to wait when a block lasts until an administrator clears it.
CLEARED_BLOCK_RETRY_AFTER = 24 * 3600


def otp_code_hash(*, verification_id: str, code: str) -> str:
    """The stored form of a code: bound to its verification, so a hash is worth nothing for any other one."""
    return crypto.keyed_hash("otp-code", f"{verification_id}:{code}")


def _phone_key(phone: str) -> str:
    return f"phone:{phone}"


@dataclass(frozen=True)
class _Limit:
    key: str
    name: str
    limit: int


def _retry_after(until: datetime, now: datetime) -> int:
    if until >= BLOCKED_UNTIL_CLEARED:
        return CLEARED_BLOCK_RETRY_AFTER
    return max(1, math.ceil((until - now).total_seconds()))


def _refuse_if_phone_blocked(phone: str, now: datetime) -> None:
    blocked = (RateLimitEntry.objects.filter(key=_phone_key(phone), action=RateLimitEntry.Action.OTP_FAILURE,
                                             blocked_until__gt=now)
               .values_list("blocked_until", flat=True).first())
    if blocked is not None:
        raise TooManyRequests(_("This phone number is blocked after too many wrong codes. Contact support."),
                              code="phone_blocked", retry_after=_retry_after(blocked, now))


def _count_send(limits: list[_Limit], now: datetime) -> None:
    """Count one send against every limit, or none if any is reached (then 429 with Retry-After)."""
    action = RateLimitEntry.Action.OTP_SEND
    window = timedelta(seconds=settings.OTP_SEND_WINDOW_SECONDS)
    # Rows must exist to be locked; concurrent first requests for a key meet on the unique constraint.
    RateLimitEntry.objects.bulk_create([RateLimitEntry(key=lim.key, action=action, window_started_at=now)
                                        for lim in limits], ignore_conflicts=True)
    where = Q()
    for lim in limits:
        where |= Q(key=lim.key)
    # Locked in one fixed order (by key), so concurrent starts never deadlock.
    rows = {e.key: e for e in RateLimitEntry.objects.select_for_update().filter(where, action=action).order_by("key")}
    fresh: set[str] = set()
    for lim in limits:
        entry = rows[lim.key]
        if entry.window_started_at + window <= now:
            fresh.add(lim.key)
            continue
        if entry.is_blocked(now) or entry.attempt_count >= lim.limit:
            until = entry.blocked_until if entry.is_blocked(now) else entry.window_started_at + window
            refusal = TooManyRequests(_("Too many codes requested. Try again later."), code="otp_rate_limited",
                                      retry_after=_retry_after(until, now))
            refusal.extra["limit"] = lim.name
            raise refusal
    for lim in limits:
        entry = rows[lim.key]
        if lim.key in fresh:
            entry.attempt_count, entry.window_started_at = 0, now
            entry.blocked_until, entry.blocked_reason = None, RateLimitEntry.BlockReason.NONE
        entry.attempt_count += 1
        if entry.attempt_count >= lim.limit:
            entry.blocked_until = entry.window_started_at + window
            entry.blocked_reason = RateLimitEntry.BlockReason.WINDOW_LIMIT
            audit_record(events.RATE_LIMIT_BLOCKED, action="block", target_type="rate_limit_entry",
                         target_id=entry.pk, after={"limit": lim.name, "until": entry.blocked_until,
                                                    "count": entry.attempt_count})
        entry.save(update_fields=["attempt_count", "window_started_at", "blocked_until", "blocked_reason",
                                  "updated_at"])


OTP_CODE_TTL_MAX_SECONDS = 600  # the settings refuse more at start-up; this holds for settings changed at run time


def otp_code_ttl_seconds() -> int:
    """``OTP_CODE_TTL_SECONDS``, never more than ten minutes."""
    return max(1, min(int(settings.OTP_CODE_TTL_SECONDS), OTP_CODE_TTL_MAX_SECONDS))


@transaction.atomic
def otp_start(*, phone: str, channel: str = PendingVerification.Channel.SMS, ip: str | None = None,
              app_user: AppUser | None = None) -> PendingVerification:
    """Start a phone verification: check and count the limits, store the code's hash, queue the sending.

    The answer is the same whether or not the phone belongs to a user. Limits are never reset by a new start.
    With ``app_user``, the code proves that link (``app_user_proof_confirm``) and can never sign anyone in; without
    it, the code signs in (``otp_verify``) and can never prove a link.
    """
    if channel not in PendingVerification.Channel.values:
        raise InvalidInput(fields={"channel": [_("Choose sms or whatsapp.")]})
    phone = phone_normalize(phone)
    now = timezone.now()
    _refuse_if_phone_blocked(phone, now)
    limits = [_Limit(_phone_key(phone), "phone", settings.OTP_SEND_LIMIT_PER_PHONE),
              _Limit(f"prefix:{phone_prefix(phone)}", "prefix", settings.OTP_SEND_LIMIT_PER_PREFIX)]
    if ip:
        limits.append(_Limit(f"ip:{ip}", "ip", settings.OTP_SEND_LIMIT_PER_IP))
    if app_user is not None:
        limits.append(_Limit(f"app:{app_user.app_id}", "app", settings.OTP_SEND_LIMIT_PER_APP))
    _count_send(limits, now)

    code = crypto.new_otp_code()
    verification = PendingVerification(phone_number=phone, channel=channel, ip_address=ip, created_at=now,
                                       expires_at=now + timedelta(seconds=otp_code_ttl_seconds()),
                                       app_user=app_user)
    verification.code_hash = otp_code_hash(verification_id=str(verification.pk), code=code)
    verification.save(force_insert=True)
    # The job carries the code sealed (AES-GCM, bound to this verification), never in clear.
    job_enqueue(OTP_SEND_JOB, priority=10, max_attempts=3, payload={
        "verification_id": str(verification.pk),
        "sealed_code": crypto.seal("otp-code", code, associated=str(verification.pk)),
    })
    audit_record(events.OTP_STARTED, action="start", target_type="pending_verification",
                 target_id=verification.pk,
                 after={"phone": phone_mask(phone), "channel": channel, "expires_at": verification.expires_at})
    return verification


def otp_deliver(*, verification_id: str, sealed_code: str | None) -> str:
    """Hand a queued code to the sender backend (the ``otp_send`` job). Returns what happened.

    Runs outside any transaction while the provider is called, so a slow provider holds no lock. A verification
    that is no longer pending, or already sent, is skipped: the job may run more than once. So is one whose sealed
    code is gone (a dead letter requeued: its payload no longer holds the code).
    """
    verification = PendingVerification.objects.filter(pk=verification_id).first()
    if verification is None:
        return "missing"
    if verification.delivery_status == PendingVerification.Delivery.SENT:
        return "already_sent"
    if (verification.status != PendingVerification.Status.PENDING or verification.is_expired()
            or not sealed_code):
        PendingVerification.objects.filter(pk=verification.pk, delivery_status=PendingVerification.Delivery.QUEUED
                                           ).update(delivery_status=PendingVerification.Delivery.SKIPPED)
        return "skipped"
    code = crypto.unseal("otp-code", sealed_code, associated=str(verification.pk))
    app_name = (Application.objects.filter(app_users__pk=verification.app_user_id).values_list("name", flat=True)
                .first() or "") if verification.app_user_id else ""
    get_sender().send(OtpMessage(verification_id=str(verification.pk), phone=verification.phone_number,
                                 channel=verification.channel, code=code, expires_at=verification.expires_at,
                                 ttl_seconds=round((verification.expires_at - verification.created_at
                                                    ).total_seconds()), app_name=app_name))
    with transaction.atomic():
        PendingVerification.objects.filter(pk=verification.pk).update(
            delivery_status=PendingVerification.Delivery.SENT, sent_at=timezone.now())
        audit_record(events.OTP_SENT, action="send", target_type="pending_verification", target_id=verification.pk,
                     actor_type="system", after={"channel": verification.channel})
    return "sent"


@dataclass(frozen=True)
class OtpVerified:
    user: User
    opened: OpenedSession
    is_new_user: bool


def _code_matches(verification: PendingVerification, code: str) -> bool:
    """Constant-time comparison of keyed hashes: the time taken says nothing about how close a guess was."""
    return crypto.hashes_match(verification.code_hash,
                               otp_code_hash(verification_id=str(verification.pk), code=code))


def _record_failure(phone: str, now: datetime) -> None:
    key, action = _phone_key(phone), RateLimitEntry.Action.OTP_FAILURE
    RateLimitEntry.objects.bulk_create([RateLimitEntry(key=key, action=action, window_started_at=now)],
                                       ignore_conflicts=True)
    entry = RateLimitEntry.objects.select_for_update().get(key=key, action=action)
    entry.attempt_count += 1
    fields = ["attempt_count", "updated_at"]
    if entry.attempt_count >= settings.OTP_FAILURE_BLOCK_THRESHOLD and not entry.is_blocked(now):
        entry.blocked_until = BLOCKED_UNTIL_CLEARED
        entry.blocked_reason = RateLimitEntry.BlockReason.FAILURES
        fields += ["blocked_until", "blocked_reason"]
        audit_record(events.RATE_LIMIT_BLOCKED, action="block", target_type="rate_limit_entry", target_id=entry.pk,
                     after={"limit": "failures", "phone": phone_mask(phone), "count": entry.attempt_count})
    entry.save(update_fields=fields)


def _locked_verification(verification_id: Any, *, app_user: AppUser | None, now: datetime) -> PendingVerification:
    """The verification, locked (concurrent guesses wait their turn), if it may still take a code: ``NotFound``
    for an unknown one or one started for another purpose (a sign-in code never proves an app link, and a proof
    code never signs in), ``Gone`` when used, burned or expired, 429 while the phone is blocked."""
    verification = (PendingVerification.objects.select_for_update()
                    .filter(pk=verification_id, app_user=app_user).first())
    if verification is None:
        raise NotFound(_("Unknown verification."), code="verification_not_found")
    if verification.status == PendingVerification.Status.VERIFIED:
        raise Gone(_("This code was already used. Start a new verification."), code="verification_used")
    if (verification.status == PendingVerification.Status.BURNED
            or verification.attempts >= settings.OTP_MAX_ATTEMPTS):
        raise Gone(_("Too many wrong codes. Start a new verification."), code="verification_burned")
    if verification.is_expired(now):
        raise Gone(_("This code has expired. Start a new verification."), code="verification_expired")
    _refuse_if_phone_blocked(verification.phone_number, now)
    return verification


def _accept_code(verification: PendingVerification, now: datetime) -> None:
    verification.status = PendingVerification.Status.VERIFIED
    verification.verified_at = now
    verification.save(update_fields=["status", "verified_at"])
    RateLimitEntry.objects.filter(key=_phone_key(verification.phone_number), action=RateLimitEntry.Action.OTP_FAILURE,
                                  blocked_until__isnull=True).update(attempt_count=0, updated_at=now)


def _count_wrong_code(verification: PendingVerification, now: datetime) -> InvalidInput:
    """Count a wrong code (burning the verification at ``OTP_MAX_ATTEMPTS``); the 400 to raise after the commit."""
    verification.attempts += 1
    left = max(0, settings.OTP_MAX_ATTEMPTS - verification.attempts)
    fields = ["attempts"]
    if left == 0:
        verification.status = PendingVerification.Status.BURNED
        fields.append("status")
    verification.save(update_fields=fields)
    audit_record(events.OTP_FAILED, action="fail", target_type="pending_verification",
                 target_id=verification.pk, after={"attempts": verification.attempts, "left": left})
    if left == 0:
        audit_record(events.OTP_BURNED, action="burn", target_type="pending_verification",
                     target_id=verification.pk, after={"attempts": verification.attempts})
    _record_failure(verification.phone_number, now)
    return InvalidInput(_("Wrong code."), code="invalid_code", fields={"code": [_("Wrong code.")]},
                        extra={"attempts_left": left})


def otp_verify(*, verification_id: str, code: str, device_fingerprint: str = "", ip: str | None = None,
               user_agent: str = "") -> OtpVerified:
    """Check a code and sign the phone's owner in (creating them if new).

    Each wrong code is counted (and committed) before the 400 answer; the verification is burned at
    ``OTP_MAX_ATTEMPTS``. The row lock makes concurrent guesses wait their turn, so no more than that many are
    ever counted. Codes are compared in constant time.
    """
    now = timezone.now()
    error: ServiceError | None = None
    result: OtpVerified | None = None
    with transaction.atomic():
        verification = _locked_verification(verification_id, app_user=None, now=now)
        if _code_matches(verification, code):
            _accept_code(verification, now)
            user, created = identity_get_or_create(phone=verification.phone_number,
                                                   source="otp", verified=True)
            audit_record(events.OTP_VERIFIED, action="verify", target_type="pending_verification",
                         target_id=verification.pk, actor_id=user.pk, actor_type="user",
                         after={"user_id": user.pk, "is_new_user": created})
            if user.status != User.Status.ACTIVE:
                audit_record(events.SIGN_IN_REFUSED, action="refuse", target_type="user", target_id=user.pk,
                             actor_id=user.pk, actor_type="user", after={"status": user.status})
                error = Forbidden(_("This account is %(status)s.") % {"status": user.status}, code="user_inactive")
            else:
                opened = session_open(user=user, device_fingerprint=device_fingerprint, ip=ip,
                                      user_agent=user_agent)
                result = OtpVerified(user=user, opened=opened, is_new_user=created)
        else:
            # Raised after the commit below: the attempt must count even though the answer is an error.
            error = _count_wrong_code(verification, now)
    if error is not None:
        raise error
    assert result is not None
    return result


def app_user_proof_start(*, app_user: AppUser, channel: str = PendingVerification.Channel.SMS,
                         ip: str | None = None) -> PendingVerification:
    """Send the person behind ``app_user`` a code that proves, once they give it to the application, that they
    hold the identity. The code goes to the identity's own phone (never to a number the app names now), under the
    same limits as a sign-in code, and its message names the application."""
    if app_user.status != AppUser.Status.ACTIVE:
        raise Conflict(_("This user is suspended in the application."), code="app_user_inactive")
    phone = (SovereignIdentity.objects.filter(user_id=app_user.user_id).values_list("primary_phone", flat=True)
             .first())
    if not phone:
        raise Conflict(_("This user has no phone to send a code to."), code="no_phone")
    with transaction.atomic():
        verification = otp_start(phone=phone, channel=channel, ip=ip, app_user=app_user)
        audit_record(events.APP_USER_PROOF_STARTED, action="start", target_type="app_user", target_id=app_user.pk,
                     app_id=app_user.app_id, after={"verification_id": verification.pk, "channel": channel})
    return verification


def app_user_proof_confirm(*, app_user: AppUser, verification_id: Any, code: str) -> AppUser:
    """Check the code the person gave the application: right, and the link is proven (``verified_at``) and the
    phone verified; wrong, and it counts like a wrong sign-in code (limits, burning, blocks). Opens no session."""
    now = timezone.now()
    error: ServiceError | None = None
    with transaction.atomic():
        verification = _locked_verification(verification_id, app_user=app_user, now=now)
        if _code_matches(verification, code):
            _accept_code(verification, now)
            user, _created = identity_get_or_create(phone=verification.phone_number, source="otp", verified=True)
            locked = AppUser.objects.select_for_update().get(pk=app_user.pk)
            if user.pk != locked.user_id:  # the identity's phone changed since the code was sent
                raise Conflict(_("This code was sent to another identity."), code="verification_mismatch")
            if user.status != User.Status.ACTIVE:
                error = Forbidden(_("This account is %(status)s.") % {"status": user.status}, code="user_inactive")
            else:
                first = locked.verified_at is None
                locked.verified_at = now
                locked.save(update_fields=["verified_at"])
                audit_record(events.APP_USER_PROVEN, action="prove", target_type="app_user", target_id=locked.pk,
                             app_id=locked.app_id, actor_id=user.pk, actor_type="user",
                             after={"user_id": user.pk, "verification_id": verification.pk, "first": first})
                app_user.verified_at = now
        else:
            error = _count_wrong_code(verification, now)
    if error is not None:
        raise error
    return app_user


@transaction.atomic
def rate_limit_clear(*, entry: RateLimitEntry, reason: str = "") -> RateLimitEntry:
    """Lift a block and reset its counter (the console's "unblock")."""
    entry = RateLimitEntry.objects.select_for_update().get(pk=entry.pk)
    before = {"count": entry.attempt_count, "blocked_until": entry.blocked_until, "reason": entry.blocked_reason}
    entry.attempt_count = 0
    entry.blocked_until = None
    entry.blocked_reason = RateLimitEntry.BlockReason.NONE
    entry.window_started_at = timezone.now()
    entry.save()
    audit_record(events.RATE_LIMIT_CLEARED, action="clear", target_type="rate_limit_entry", target_id=entry.pk,
                 before=before, after={"count": 0, "blocked_until": None}, reason=reason,
                 metadata={"action": entry.action, "kind": entry.key.split(":", 1)[0]})
    return entry
