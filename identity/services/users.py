"""Users behind phone identities: find or create, profile, provider links."""
from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from core.errors import Conflict, InvalidInput
from identity import events
from identity.models import Application, AuthMethod, IdentityLink, SovereignIdentity, User, UserProfile
from identity.phones import phone_mask


def _create_identity(*, phone: str, source: str, verified: bool) -> User:
    now = timezone.now()
    user = User.objects.create_user()
    SovereignIdentity.objects.create(user=user, primary_phone=phone, source=source)
    UserProfile.objects.create(user=user)
    AuthMethod.objects.create(user=user, type=AuthMethod.Type.PHONE, identifier=phone, verified=verified,
                              verified_at=now if verified else None)
    return user


@transaction.atomic
def identity_get_or_create(*, phone: str, source: str, verified: bool) -> tuple[User, bool]:
    """The user whose identity is ``phone`` (E.164), created with profile and phone method if new.

    ``verified`` marks the phone method as proven (a correct OTP); an app's say-so leaves it unverified.
    Returns ``(user, created)``. Safe under concurrent calls for the same phone.
    """
    identity = SovereignIdentity.objects.select_related("user").filter(primary_phone=phone).first()
    if identity is None:
        try:
            # A savepoint: a concurrent first sign-in of the same phone may insert first.
            with transaction.atomic():
                user = _create_identity(phone=phone, source=source, verified=verified)
        except IntegrityError:
            identity = SovereignIdentity.objects.select_related("user").get(primary_phone=phone)
        else:
            audit_record(events.IDENTITY_CREATED, action="create", target_type="user", target_id=user.pk,
                         after={"source": source, "phone": phone_mask(phone), "verified": verified})
            return user, True
    user = identity.user
    phone_method = AuthMethod.objects.filter(type=AuthMethod.Type.PHONE, identifier=phone)
    # The usual case (a returning user) reads without a lock, so sign-ins of one phone do not queue here.
    if verified and not phone_method.filter(verified=True).exists():
        method = phone_method.select_for_update().first()
        if method is None:
            AuthMethod.objects.create(user=user, type=AuthMethod.Type.PHONE, identifier=phone, verified=True,
                                      verified_at=timezone.now())
        elif not method.verified:
            method.verified, method.verified_at = True, timezone.now()
            method.save(update_fields=["verified", "verified_at"])
        else:
            return user, False
        audit_record(events.PHONE_VERIFIED, action="verify", target_type="user", target_id=user.pk,
                     after={"phone": phone_mask(phone), "verified": True})
    return user, False


PROFILE_FIELDS = ("name", "email", "avatar_url")


@transaction.atomic
def profile_update(*, user: User, **changes: str) -> UserProfile:
    """Change some of ``name``, ``email``, ``avatar_url`` (already validated by the caller's serializer)."""
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise InvalidInput(fields={f: [_("This field cannot be changed.")] for f in sorted(unknown)})
    profile, _created = UserProfile.objects.select_for_update().get_or_create(user=user)
    before = {f: getattr(profile, f) for f in changes}
    for name, value in changes.items():
        setattr(profile, name, value)
    if changes:
        profile.full_clean(exclude=["user"])
        profile.save()
        audit_record(events.PROFILE_UPDATED, action="update", target_type="user_profile", target_id=profile.pk,
                     before=before, after={f: getattr(profile, f) for f in changes})
    return profile


@transaction.atomic
def identity_link_create(*, app: Application, user: User, provider: str, provider_id: str) -> tuple[IdentityLink, bool]:
    """Link ``provider``/``provider_id`` to ``user`` (a user ``app`` knows). One provider id belongs to one user.

    Linking again to the same user returns the existing link (``created`` False); to another user is a 409, and so
    is a link another tenant's application (or the console) made: that link is the other tenant's data.
    """
    if provider not in IdentityLink.Provider.values:
        raise InvalidInput(fields={"provider": [_("Unknown provider.")]})
    provider_id = (provider_id or "").strip()
    if not provider_id:
        raise InvalidInput(fields={"provider_id": [_("This field may not be blank.")]})
    existing = IdentityLink.objects.select_related("app").filter(provider=provider, provider_id=provider_id).first()
    if existing is None:
        try:
            with transaction.atomic():
                link = IdentityLink.objects.create(user=user, provider=provider, provider_id=provider_id, app=app)
        except IntegrityError:
            existing = IdentityLink.objects.select_related("app").get(provider=provider, provider_id=provider_id)
        else:
            audit_record(events.IDENTITY_LINKED, action="link", target_type="identity_link", target_id=link.pk,
                         app_id=app.pk, after={"user_id": user.pk, "provider": provider})
            return link, True
    if existing.user_id != user.pk or existing.app is None or existing.app.owner_id != app.owner_id:
        raise Conflict(_("This provider identity is already linked."), code="provider_identity_taken")
    return existing, False
