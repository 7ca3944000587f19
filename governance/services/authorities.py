"""Decision authorities: grant and revoke, never more than the granter holds."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from governance import events
from governance.callbacks import notify_authority_granted, notify_authority_revoked
from governance.models import AuthorityRole, DecisionAuthority, Impact
from governance.models.authorities import ALL_SCOPES, scope_errors


def _snapshot(authority: DecisionAuthority) -> dict[str, Any]:
    return {"user_id": str(authority.user_id), "role": authority.role, "title": authority.title,
            "scopes": authority.scopes, "max_impact": authority.max_impact, "active": authority.active,
            "expires_at": authority.expires_at.isoformat() if authority.expires_at else None,
            "granted_by": str(authority.granted_by_id) if authority.granted_by_id else None}


def _holds(holder, *, scopes: list[str], max_impact: str, expires_at: datetime | None) -> str | None:
    """None when ``holder`` may hand out this much, else why not. Super admins may hand out anything."""
    if holder.is_superuser:
        return None
    now = timezone.now()
    reasons = []
    for mine in DecisionAuthority.objects.in_force(now).filter(user=holder):
        if ALL_SCOPES not in mine.scopes and not set(scopes) <= set(mine.scopes):
            reasons.append(_("your authority does not cover every requested domain"))
        elif not mine.reaches(max_impact):
            reasons.append(_("your authority reaches only %(impact)s impact") % {"impact": mine.max_impact})
        elif mine.expires_at and (expires_at is None or expires_at > mine.expires_at):
            reasons.append(_("your authority expires at %(when)s; the grant must expire no later")
                           % {"when": mine.expires_at.isoformat()})
        else:
            return None
    return "; ".join(reasons) or _("you hold no decision authority in force")


def authority_grant_check(*, granted_by, user, role: str, scopes: list[str], max_impact: str,
                          expires_at: datetime | None = None) -> None:
    """Raise InvalidInput or Forbidden unless ``granted_by`` may grant this (the console's form calls it too)."""
    problems: dict[str, list[str]] = {}
    if role not in AuthorityRole.values:
        problems["role"] = [_("One of %(roles)s.") % {"roles": ", ".join(AuthorityRole.values)}]
    if max_impact not in Impact.values:
        problems["max_impact"] = [_("One of %(levels)s.") % {"levels": ", ".join(Impact.values)}]
    if scope_errors(scopes):
        problems["scopes"] = scope_errors(scopes)
    if expires_at is not None and expires_at <= timezone.now():
        problems["expires_at"] = [_("The expiry must be in the future.")]
    if user is None or not user.is_active:
        problems["user"] = [_("Authority can only be granted to an active user.")]
    if problems:
        raise InvalidInput(fields=problems)
    if granted_by is None:
        return  # the system itself (bootstrap, demo data)
    if not granted_by.is_active:
        raise Forbidden(_("Your account is not active."), code="granter_inactive")
    if granted_by.is_superuser:
        return
    if granted_by.pk == user.pk:
        raise Forbidden(_("Nobody grants authority to themselves."), code="self_grant_forbidden")
    if role == AuthorityRole.SUPER_ADMIN:
        raise Forbidden(_("Only a super admin grants the super admin role."), code="grant_exceeds_authority")
    why = _holds(granted_by, scopes=scopes, max_impact=max_impact, expires_at=expires_at)
    if why:
        raise Forbidden(_("You cannot grant more than you hold: %(why)s.") % {"why": why},
                        code="grant_exceeds_authority")


@transaction.atomic
def authority_grant(
    *,
    user,
    role: str,
    scopes: list[str],
    max_impact: str,
    granted_by,
    title: str = "",
    expires_at: datetime | None = None,
    reason: str = "",
) -> DecisionAuthority:
    """Grant ``user`` the authority to decide requests of ``scopes`` up to ``max_impact``.

    ``granted_by`` is a user (super admins may grant anything; others at most what one of their own authorities
    in force covers, never to themselves) or None for the system itself."""
    authority_grant_check(granted_by=granted_by, user=user, role=role, scopes=scopes, max_impact=max_impact,
                          expires_at=expires_at)
    authority = DecisionAuthority(user=user, role=role, title=title or "", scopes=list(scopes),
                                  max_impact=max_impact, granted_by=granted_by, expires_at=expires_at)
    try:
        authority.full_clean()
    except ValidationError as exc:
        raise InvalidInput(fields={k: [str(m) for m in v] for k, v in exc.message_dict.items()}) from None
    authority._history_user = granted_by
    authority.save()
    audit_record(events.AUTHORITY_GRANTED, action="grant", target_type="decision_authority",
                 target_id=authority.pk, after=_snapshot(authority), reason=reason,
                 actor_id=granted_by.pk if granted_by else None,
                 actor_type=("admin" if granted_by.is_staff else "user") if granted_by else "system")
    # Institutional memory gives the grant its lifecycle (expiring with it, else reviewed periodically).
    notify_authority_granted(authority=authority, granted_by=granted_by, reason=reason)
    return authority


@transaction.atomic
def authority_revoke(*, authority_id: uuid.UUID, revoked_by, reason: str) -> DecisionAuthority:
    """End an authority at once. Super admins, the original granter, or anyone who could grant it may revoke."""
    if not isinstance(reason, str) or len(reason.strip()) < 3:
        raise InvalidInput(fields={"reason": [_("Say why (at least 3 characters).")]})
    authority = DecisionAuthority.objects.select_for_update().filter(pk=authority_id).first()
    if authority is None:
        raise NotFound(_("No such decision authority."), code="authority_not_found")
    if not authority.active:
        raise Conflict(_("This authority is already revoked."), code="authority_not_active")
    if revoked_by is not None and not revoked_by.is_superuser and authority.granted_by_id != revoked_by.pk:
        why = _holds(revoked_by, scopes=authority.scopes, max_impact=authority.max_impact,
                     expires_at=authority.expires_at)
        if why or revoked_by.pk == authority.user_id:
            raise Forbidden(_("You cannot revoke this authority: %(why)s.")
                            % {"why": why or _("nobody revokes their own authority")},
                            code="revoke_exceeds_authority")
    before = _snapshot(authority)
    authority.active = False
    authority.revoked_at = timezone.now()
    authority.revoked_by = revoked_by
    authority.revoke_reason = reason.strip()
    authority._history_user = revoked_by
    authority._change_reason = "revoked"
    authority.save()
    audit_record(events.AUTHORITY_REVOKED, action="revoke", target_type="decision_authority",
                 target_id=authority.pk, before=before, after=_snapshot(authority), reason=reason.strip(),
                 actor_id=revoked_by.pk if revoked_by else None,
                 actor_type=("admin" if revoked_by.is_staff else "user") if revoked_by else "system")
    notify_authority_revoked(authority=authority, revoked_by=revoked_by, reason=reason.strip())
    return authority
