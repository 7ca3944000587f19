"""Reads for the identity app and for the areas above it (tenant isolation lives here).

Another tenant's object answers ``NotFound`` (404), never 403: an app must not learn that it exists.
"""
from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from core.errors import NotFound
from identity.models import AppCredential, Application, AppSession, AppUser, SovereignSession, User
from identity.rows import JoinedRows, OptionalJoin, relate


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def person_reachable(*, app_id: Any, user_id: Any) -> bool:
    """Whether the application may act on this person: they proved, through this very application, that they hold
    the identity (``app_users.verified_at``), and the link is active. A claim (a link made from a phone number or
    an id) is not enough, and neither is a proof made through another application, even of the same tenant."""
    app_id, user_id = _uuid(app_id), _uuid(user_id)
    if app_id is None or user_id is None:
        return False
    return AppUser.objects.proven().filter(app_id=app_id, user_id=user_id).exists()


def persons_proven_to(*, app_id: Any) -> QuerySet[AppUser]:
    """The ids (``user_id``) of the persons ``person_reachable`` admits for the application: a subquery for reads of
    many persons' records at once."""
    return AppUser.objects.proven().filter(app_id=_uuid(app_id)).values("user_id")


def person_get(*, app_id: Any, user_id: Any) -> User:
    """The person, if the application may act on them (``person_reachable``); else ``NotFound``."""
    if not person_reachable(app_id=app_id, user_id=user_id):
        raise NotFound(_("User not found."), code="user_not_found")
    return User.objects.get(pk=_uuid(user_id))


def person_known_to_tenant(*, tenant_id: Any, user_id: Any) -> bool:
    """Whether the person proved themselves through one of the tenant's applications (any status): such a person's
    id may be given to link them to another of the tenant's apps (still a claim there until proven anew)."""
    tenant_id, user_id = _uuid(tenant_id), _uuid(user_id)
    if tenant_id is None or user_id is None:
        return False
    return AppUser.objects.filter(app__owner_id=tenant_id, user_id=user_id, verified_at__isnull=False).exists()


def app_user_unproven() -> NotFound:
    return NotFound(_("This user has not proved their identity to this application yet: start a verification "
                      "(POST /api/v1/app/users/{external_user_id}/verifications)."), code="app_user_unproven")


def proven_app_user(app_user: AppUser) -> AppUser:
    """``app_user`` if the app may act on them; else ``NotFound`` (``app_user_unproven``): a claim grants nothing."""
    if not app_user.is_proven:
        raise app_user_unproven()
    return app_user


def tenant_apps(*, tenant_id: Any) -> QuerySet[Application]:
    return Application.objects.filter(owner_id=_uuid(tenant_id))


_CREDENTIAL_WITH_APP = JoinedRows(AppCredential, [("a", Application, "app")], ["public_key"])
_APP_USER_WITH_USER = JoinedRows(AppUser, [("u", User, "user")], ["app", "external_user_id"])
# The credential, its app and one of that app's users (with their user row), for reads that name the app user in
# their URL: one round trip instead of two on the commonest app call. The app user is joined through the
# credential's own app, so the row never carries another app's user.
_CREDENTIAL_WITH_APP_USER = JoinedRows(AppCredential, [("a", Application, "app")], ["public_key"], optional=[
    OptionalJoin("au", AppUser, on={"app": ("b", "app")}, match=("external_user_id",)),
    OptionalJoin("u", User, on={"id": ("au", "user")}),
])


def credential_with_app(*, public_key: str) -> AppCredential | None:
    """The credential with this public key and its application (one query, on every app request)."""
    found = _CREDENTIAL_WITH_APP.first([public_key])
    if found is None:
        return None
    credential, app = found
    relate(credential, "app", app)
    return credential


def credential_with_app_user(*, public_key: str, external_user_id: str) -> tuple[AppCredential | None,
                                                                                  AppUser | None]:
    """``credential_with_app``, and in the same query the credential's app's user with this external id (with
    their user row), or None."""
    found = _CREDENTIAL_WITH_APP_USER.first([public_key, external_user_id])
    if found is None:
        return None, None
    credential, app, app_user, user = found
    relate(credential, "app", app)
    if app_user is not None:
        relate(app_user, "app", app)
        relate(app_user, "user", user)
    return credential, app_user


def app_user_not_found() -> NotFound:
    return NotFound(_("No user with this external id in this application."), code="app_user_not_found")


def app_user_get(*, app: Application, external_user_id: str) -> AppUser:
    """The app's user (with their user row) by the app's own id for them; ``NotFound`` otherwise, including for
    other apps' users."""
    found = _APP_USER_WITH_USER.first([app.pk, external_user_id])
    if found is None:
        raise app_user_not_found()
    app_user, user = found
    relate(app_user, "user", user)
    return app_user


def app_user_for_user(*, app: Application, user_id: Any) -> AppUser | None:
    return AppUser.objects.filter(app=app, user_id=_uuid(user_id)).first()


def app_get_for_owner(*, owner: User, app_id: Any) -> Application:
    found = Application.objects.filter(pk=_uuid(app_id), owner=owner).exclude(
        status=Application.Status.DELETED).first() if _uuid(app_id) else None
    if found is None:
        raise NotFound(_("Application not found."), code="app_not_found")
    return found


def apps_for_owner(*, owner: User) -> QuerySet[Application]:
    return Application.objects.filter(owner=owner).exclude(status=Application.Status.DELETED).order_by("name")


def credentials_for_app(*, app: Application) -> QuerySet[AppCredential]:
    return AppCredential.objects.filter(app=app).order_by("-created_at")


def credential_get_for_app(*, app: Application, credential_id: Any) -> AppCredential:
    found = AppCredential.objects.filter(app=app, pk=_uuid(credential_id)).first() if _uuid(credential_id) else None
    if found is None:
        raise NotFound(_("Credential not found."), code="credential_not_found")
    return found


def sessions_for_user(*, user: User) -> QuerySet[SovereignSession]:
    return SovereignSession.objects.filter(user=user).order_by("-created_at")


def session_get_for_user(*, user: User, session_id: Any) -> SovereignSession:
    sid = _uuid(session_id)
    found = SovereignSession.objects.filter(user=user, pk=sid).first() if sid else None
    if found is None:
        raise NotFound(_("Session not found."), code="session_not_found")
    return found


def app_session_get(*, app: Application, session_id: Any) -> AppSession:
    sid = _uuid(session_id)
    found = AppSession.objects.select_related("app_user").filter(app=app, pk=sid).first() if sid else None
    if found is None:
        raise NotFound(_("App session not found."), code="app_session_not_found")
    return found
