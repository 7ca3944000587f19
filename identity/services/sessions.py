"""User sessions and user status: opening, revoking, and ending everything when a user is stopped."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from core.errors import InvalidInput
from identity import crypto, events
from identity.models import AppSession, SovereignSession, User
from identity.services.containment import tenant_contain, tenant_release
from infrastructure.services.staff_locks import staff_lock_lift, staff_lock_set


@dataclass(frozen=True)
class OpenedSession:
    session: SovereignSession
    token: str  # shown once to the caller; only its hash is stored


@transaction.atomic
def session_open(*, user: User, device_fingerprint: str = "", ip: str | None = None,
                 user_agent: str = "") -> OpenedSession:
    """Open a session for ``user`` and return it with its bearer token (256 random bits)."""
    token = crypto.new_token(crypto.SESSION_TOKEN_PREFIX)
    session = SovereignSession.objects.create(
        user=user,
        token_hash=crypto.keyed_hash("session-token", token),
        device_fingerprint=(device_fingerprint or "")[:255],
        expires_at=timezone.now() + timedelta(seconds=settings.IDENTITY_SESSION_TTL_SECONDS),
        ip_address=ip,
        user_agent=(user_agent or "")[:512],
    )
    audit_record(events.SESSION_OPENED, action="open", target_type="sovereign_session", target_id=session.pk,
                 actor_id=user.pk, actor_type="user",
                 after={"user_id": user.pk, "expires_at": session.expires_at,
                        "device_fingerprint": session.device_fingerprint})
    return OpenedSession(session=session, token=token)


@transaction.atomic
def session_revoke(*, session: SovereignSession, reason: str = "revoked") -> SovereignSession:
    """End a session; revoking an ended session changes nothing."""
    session = SovereignSession.objects.select_for_update().get(pk=session.pk)
    if not session.is_active:
        return session
    session.is_active = False
    session.revoked_at = timezone.now()
    session.revoked_reason = reason[:64]
    session.save(update_fields=["is_active", "revoked_at", "revoked_reason"])
    audit_record(events.SESSION_REVOKED, action="revoke", target_type="sovereign_session", target_id=session.pk,
                 before={"is_active": True}, after={"is_active": False}, reason=reason,
                 metadata={"user_id": str(session.user_id)})
    return session


@transaction.atomic
def user_sessions_end(*, user: User, reason: str) -> int:
    """End every session of ``user``: their own and those apps opened for them. Returns how many ended."""
    now = timezone.now()
    ended = 0
    for session in SovereignSession.objects.select_for_update().filter(user=user, is_active=True):
        session_revoke(session=session, reason=reason)
        ended += 1
    for app_session in AppSession.objects.select_for_update().filter(user=user, status=AppSession.Status.ACTIVE):
        app_session.status = AppSession.Status.REVOKED
        app_session.revoked_at = now
        app_session.revoked_reason = reason[:64]
        app_session.save(update_fields=["status", "revoked_at", "revoked_reason"])
        audit_record(events.APP_SESSION_REVOKED, action="revoke", target_type="app_session",
                     target_id=app_session.pk, app_id=app_session.app_id, reason=reason,
                     before={"status": AppSession.Status.ACTIVE}, after={"status": AppSession.Status.REVOKED})
        ended += 1
    return ended


@transaction.atomic
def user_set_status(*, user: User, status: str, reason: str, actor: Any = None) -> User:
    """Suspend, ban or reactivate a user (a staff action: ``actor`` is the staff member, else the request's).

    Suspending or banning ends all their sessions at once, locks the status (docs/domains/staff-locks.md) and
    contains their tenant if they own applications (``identity.services.containment.tenant_contain``: every app
    and credential suspended, in this transaction). Reactivating lifts both (``tenant_release``). Setting the
    status a user already has changes nothing but makes sure the sessions are ended and the tenant contained."""
    if status not in User.Status.values:
        raise InvalidInput(fields={"status": [_("Unknown status.")]})
    if len((reason or "").strip()) < 3:
        raise InvalidInput(fields={"reason": [_("Give a reason of at least 3 characters.")]})
    user = User.objects.select_for_update().get(pk=user.pk)
    before = user.status
    if before != status:
        user.status = status
        user.save(update_fields=["status"])
        audit_record(events.USER_STATUS_CHANGED, action=status, target_type="user", target_id=user.pk,
                     before={"status": before}, after={"status": status}, reason=reason)
    if status != User.Status.ACTIVE:
        staff_lock_set(target=user, tenant_id=user.pk, value={"status": status}, reason=reason, actor=actor)
        user_sessions_end(user=user, reason=f"user_{status}")
        tenant_contain(owner=user, reason=reason, actor=actor)
    elif before != status:
        staff_lock_lift(target=user, reason=reason, actor=actor)
        tenant_release(owner=user, reason=reason, actor=actor)
    return user
