"""Applications: creation, status, credentials, their users and their users' sessions."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from audit.services import audit_record
from core.errors import Conflict, InvalidInput, NotFound
from identity import crypto, events
from identity.models import AppCredential, Application, AppSession, AppUser, Scope, User
from identity.phones import phone_normalize
from identity.selectors import person_known_to_tenant, proven_app_user
from identity.services.users import identity_get_or_create
from identity.services.webhooks import app_webhook_secret_rotate, webhook_url_problem

# An external user id is a segment of the app's own URLs (``/app/users/{external_user_id}``): one that could never be
# read back there (a slash, NUL, or a dot segment that clients normalise away) is refused when it is linked.
external_user_id_validator = RegexValidator(
    r"^(?!\.{1,2}\Z)[^/\x00]+\Z",
    _lazy("Use an id without '/' that is not '.' or '..' (it is part of the app's URLs)."),
    code="invalid_external_user_id",
)


def _unique_slug(name: str) -> str:
    base = slugify(name)[:80] or "app"
    slug = base
    while Application.objects.filter(slug=slug).exists():
        slug = f"{base}-{get_random_string(6, 'abcdefghijklmnopqrstuvwxyz0123456789')}"
    return slug


@transaction.atomic
def app_create(*, owner: User, name: str, slug: str = "", webhook_url: str = "",
               webhook_secret: str | None = None) -> Application:
    """Create an application owned by ``owner`` (the tenant), with its webhook signing secret. A taken ``slug`` is
    a 409.

    The signing secret is ``webhook_secret`` when given (the caller made it with ``webhook_secret_generate()`` to
    show it once), else a fresh one nobody has seen (the owner gets one by rotating it).
    """
    name = (name or "").strip()
    if not name:
        raise InvalidInput(fields={"name": [_("This field may not be blank.")]})
    if owner.status != User.Status.ACTIVE:
        # A suspended or banned owner's tenant is contained (identity.services.containment): no new app either.
        raise Conflict(_("The owner is suspended or banned."), code="owner_inactive",
                       fields={"owner": [_("The owner is suspended or banned.")]})
    problem = webhook_url_problem(webhook_url) if webhook_url else None
    if problem:
        raise InvalidInput(problem, code="invalid_webhook_url", fields={"webhook_url": [problem]})
    chosen = bool(slug)
    if chosen:
        slug = slugify(slug)
        if not slug:
            raise InvalidInput(fields={"slug": [_("Use letters, numbers, hyphens or underscores.")]})
    for _attempt in range(1 if chosen else 3):
        try:
            with transaction.atomic():
                app = Application.objects.create(owner=owner, name=name[:200], slug=slug if chosen else
                                                 _unique_slug(name), webhook_url=webhook_url or "")
            break
        except IntegrityError:
            # A slug made from the name can lose a race with another request for the same name: make another.
            continue
    else:
        raise Conflict(_("This slug is taken."), code="slug_taken", fields={"slug": [_("This slug is taken.")]})
    audit_record(events.APP_CREATED, action="create", target_type="application", target_id=app.pk, app_id=app.pk,
                 after={"name": app.name, "slug": app.slug, "owner_id": owner.pk, "webhook_url": app.webhook_url})
    app_webhook_secret_rotate(app=app, value=webhook_secret)
    return app


@transaction.atomic
def app_set_status(*, app: Application, status: str, reason: str) -> Application:
    """Suspend, reactivate or delete an application; its credentials stop working on the next request."""
    if status not in Application.Status.values:
        raise InvalidInput(fields={"status": [_("Unknown status.")]})
    app = Application.objects.select_for_update().get(pk=app.pk)
    before = app.status
    if before == status:
        return app
    if before == Application.Status.DELETED:
        raise Conflict(_("A deleted application stays deleted."), code="app_deleted")
    app.status = status
    app.save(update_fields=["status", "updated_at"])
    audit_record(events.APP_STATUS_CHANGED, action=status, target_type="application", target_id=app.pk,
                 app_id=app.pk, before={"status": before}, after={"status": status}, reason=reason)
    return app


@dataclass(frozen=True)
class IssuedCredential:
    credential: AppCredential
    secret: str  # shown once; only its keyed hash is stored


def _clean_scopes(scopes: list[str] | tuple[str, ...]) -> list[str]:
    if not scopes:
        raise InvalidInput(fields={"scopes": [_("Give at least one scope.")]})
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown:
        raise InvalidInput(fields={"scopes": [_("Unknown scopes: %(s)s.") % {"s": ", ".join(unknown)}]})
    return [s for s in Scope.values if s in set(scopes)]


@transaction.atomic
def credential_issue(*, app: Application, name: str, scopes: list[str], created_by: User | None = None
                     ) -> IssuedCredential:
    """A new public key ``pq_pk_…`` and secret ``pq_sk_…`` for ``app``; the secret is returned here only."""
    scopes = _clean_scopes(scopes)
    if app.status == Application.Status.DELETED:
        raise Conflict(_("A deleted application gets no credentials."), code="app_deleted")
    secret = crypto.new_token(crypto.SECRET_PREFIX)
    credential = AppCredential.objects.create(
        app=app, name=(name or "").strip()[:100] or "default",
        public_key=crypto.new_token(crypto.PUBLIC_KEY_PREFIX, 18),
        secret_hash=crypto.keyed_hash("app-secret", secret), scopes=scopes, created_by=created_by,
    )
    audit_record(events.APP_CREDENTIAL_ISSUED, action="issue", target_type="app_credential",
                 target_id=credential.pk, app_id=app.pk,
                 after={"name": credential.name, "public_key": credential.public_key, "scopes": scopes})
    return IssuedCredential(credential=credential, secret=secret)


@transaction.atomic
def credential_revoke(*, credential: AppCredential, reason: str = "") -> AppCredential:
    """Revoke a credential: the next request made with it is refused."""
    credential = AppCredential.objects.select_for_update().get(pk=credential.pk)
    if credential.status == AppCredential.Status.REVOKED:
        return credential
    before = credential.status  # active, or suspended with its tenant's owner
    credential.status = AppCredential.Status.REVOKED
    credential.revoked_at = timezone.now()
    credential.save(update_fields=["status", "revoked_at"])
    audit_record(events.APP_CREDENTIAL_REVOKED, action="revoke", target_type="app_credential",
                 target_id=credential.pk, app_id=credential.app_id, reason=reason,
                 before={"status": before}, after={"status": AppCredential.Status.REVOKED},
                 metadata={"public_key": credential.public_key})
    return credential


@transaction.atomic
def app_user_link(*, app: Application, external_user_id: str, phone: str = "", user_id=None
                  ) -> tuple[AppUser, bool]:
    """Link a user to ``app`` under the app's ``external_user_id``: by phone (found or created) or by the id of a
    person who proved themselves through one of the tenant's apps (anyone else is "not found"). Returns
    ``(app_user, created)``; the same link again is not an error, a different one for the same external id or user
    is a 409.

    A new link is a claim: it grants nothing until the person proves, through this app, that they hold the identity
    (``app_user_proof_start`` / ``app_user_proof_confirm``).
    """
    external_user_id = (external_user_id or "").strip()
    if not external_user_id:
        raise InvalidInput(fields={"external_user_id": [_("This field may not be blank.")]})
    try:
        external_user_id_validator(external_user_id)
    except ValidationError as exc:
        raise InvalidInput(fields={"external_user_id": list(exc.messages)}) from None
    if bool(phone) == bool(user_id):
        raise InvalidInput(_("Give either phone or user_id."), fields={"phone": [_("Give either phone or user_id.")]})
    if phone:
        user, _created = identity_get_or_create(phone=phone_normalize(phone), source="app", verified=False)
    else:
        if not person_known_to_tenant(user_id=user_id, tenant_id=app.owner_id):
            raise NotFound(_("User not found."), code="user_not_found")
        user = User.objects.get(pk=user_id)
    existing = AppUser.objects.filter(app=app, external_user_id=external_user_id).first()
    if existing is None:
        try:
            with transaction.atomic():
                app_user = AppUser.objects.create(app=app, user=user, external_user_id=external_user_id)
        except IntegrityError:
            existing = AppUser.objects.filter(app=app, external_user_id=external_user_id).first()
            if existing is None:
                raise Conflict(_("This user is already linked to the application under another external id."),
                               code="user_already_linked") from None
        else:
            audit_record(events.APP_USER_LINKED, action="link", target_type="app_user", target_id=app_user.pk,
                         app_id=app.pk, after={"user_id": user.pk, "external_user_id": external_user_id})
            return app_user, True
    if existing.user_id != user.pk:
        raise Conflict(_("This external id is linked to another user."), code="external_id_taken")
    return existing, False


@transaction.atomic
def app_user_attest(*, app_user: AppUser, actor: User | None, reason: str) -> AppUser:
    """Staff's proof of a link, the one equivalent of the person's own code: someone in the console checked, out of
    band, that the person behind ``app_user`` is the application's customer (a support call, a document), and says
    how in ``reason`` (at least 10 characters). Audited with the staff member's name."""
    reason = (reason or "").strip()
    if len(reason) < 10:
        raise InvalidInput(fields={"reason": [_("Say in at least 10 characters how the identity was checked.")]})
    locked = AppUser.objects.select_for_update().get(pk=app_user.pk)
    if locked.verified_at is None:
        locked.verified_at = timezone.now()
        locked.save(update_fields=["verified_at"])
        audit_record(events.APP_USER_PROVEN, action="attest", target_type="app_user", target_id=locked.pk,
                     app_id=locked.app_id, actor_id=getattr(actor, "pk", None), actor_type="admin" if actor else None,
                     after={"user_id": locked.user_id, "method": "staff_attestation", "first": True}, reason=reason)
    return locked


@transaction.atomic
def app_session_open(*, app_user: AppUser, ip_address: str | None, ttl_seconds: int | None = None) -> AppSession:
    """Open a session of ``app_user`` in its app, recording the end user's IP address (a proven link only)."""
    proven_app_user(app_user)
    if app_user.status != AppUser.Status.ACTIVE or app_user.user.status != User.Status.ACTIVE:
        raise Conflict(_("This user cannot open sessions now."), code="user_inactive")
    ttl = ttl_seconds or settings.APP_SESSION_TTL_SECONDS
    session = AppSession.objects.create(app_id=app_user.app_id, app_user=app_user, user_id=app_user.user_id,
                                        ip_address=ip_address, expires_at=timezone.now() + timedelta(seconds=ttl))
    audit_record(events.APP_SESSION_OPENED, action="open", target_type="app_session", target_id=session.pk,
                 app_id=app_user.app_id,
                 after={"app_user_id": app_user.pk, "user_id": app_user.user_id, "ip_address": ip_address,
                        "expires_at": session.expires_at})
    return session


@transaction.atomic
def app_session_revoke(*, session: AppSession, reason: str = "revoked") -> AppSession:
    session = AppSession.objects.select_for_update().get(pk=session.pk)
    if session.status != AppSession.Status.ACTIVE:
        return session
    session.status = AppSession.Status.REVOKED
    session.revoked_at = timezone.now()
    session.revoked_reason = reason[:64]
    session.save(update_fields=["status", "revoked_at", "revoked_reason"])
    audit_record(events.APP_SESSION_REVOKED, action="revoke", target_type="app_session", target_id=session.pk,
                 app_id=session.app_id, reason=reason,
                 before={"status": AppSession.Status.ACTIVE}, after={"status": AppSession.Status.REVOKED})
    return session
