"""DRF authentication: applications by HTTP Basic credentials, signed-in users by bearer session tokens.

Both bind the audit context (``audit.context``) so that every event recorded while serving the request names the
acting app or user.
"""
from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import HTTP_HEADER_ENCODING, exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from audit import context as audit_context
from identity import crypto
from identity.models import AppCredential, Application, AppUser, SovereignSession, User
from identity.selectors import (
    app_user_get,
    app_user_not_found,
    credential_with_app,
    credential_with_app_user,
    proven_app_user,
)


def _authorization(request: Request) -> bytes:
    """The Authorization header as bytes, as DRF's ``get_authorization_header`` gives it, read from ``META``
    (``request.headers`` builds a dict of every header on first use, for one lookup)."""
    auth = request.META.get("HTTP_AUTHORIZATION", b"")
    return auth.encode(HTTP_HEADER_ENCODING) if isinstance(auth, str) else auth


@dataclass(frozen=True, eq=False)
class AppPrincipal:
    """``request.user`` for an application: the app, the credential it used and that credential's scopes.

    ``fetched_app_users`` holds the app users the authentication read with the credential (by external id; None
    where the app has no such user), for views that name one in their URL (``app_user_kwarg``).
    """

    app: Application
    credential: AppCredential
    scopes: frozenset[str] = field(default_factory=frozenset)
    fetched_app_users: Mapping[str, AppUser | None] = field(default_factory=dict)

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    @property
    def app_id(self) -> uuid.UUID:
        return self.app.id

    @property
    def pk(self) -> uuid.UUID:
        return self.app.id

    @property
    def tenant_id(self) -> uuid.UUID:
        """The tenant is the app's owner: the app reaches only that tenant's data."""
        return self.app.owner_id

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def app_user(self, external_user_id: str) -> AppUser:
        """The app's user by the app's own id for them, with their user row; ``NotFound`` otherwise. Read with
        the credential when the view named it, else now."""
        if external_user_id in self.fetched_app_users:
            app_user = self.fetched_app_users[external_user_id]
            if app_user is None:
                raise app_user_not_found()
            return app_user
        return app_user_get(app=self.app, external_user_id=external_user_id)

    def proven_app_user(self, external_user_id: str) -> AppUser:
        """``app_user``, if the person proved themselves through this app; else ``NotFound``: a claim grants no
        action on the person."""
        return proven_app_user(self.app_user(external_user_id))

    def __str__(self) -> str:
        return f"app {self.app.slug}"


class AppCredentialAuthentication(BaseAuthentication):
    """``Authorization: Basic base64(pq_pk_…:pq_sk_…)``.

    The secret is checked against its keyed hash in constant time. Revoked or suspended credentials and apps that
    are not active are refused on the request after the change: nothing is cached.

    A view whose URL names one of the app's users sets ``app_user_kwarg`` (the URL keyword holding the external
    id): the same query then reads that user too (``AppPrincipal.app_user``). Nothing of it reaches the view
    unless the credential is accepted, and it is joined through the credential's own app.
    """

    www_authenticate_realm = "api"

    def authenticate(self, request: Request) -> tuple[AppPrincipal, AppCredential] | None:
        auth = _authorization(request).split()
        if not auth or auth[0].lower() != b"basic":
            return None
        if len(auth) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid Basic header."), code="invalid_credentials")
        try:
            public_key, sep, secret = base64.b64decode(auth[1], validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise exceptions.AuthenticationFailed(_("Invalid Basic header."), code="invalid_credentials") from None
        if (not sep or not public_key.startswith(crypto.PUBLIC_KEY_PREFIX) or len(public_key) > 64
                or "\x00" in public_key):
            raise exceptions.AuthenticationFailed(_("Invalid app credentials."), code="invalid_credentials")

        candidate = crypto.keyed_hash("app-secret", secret)
        view = (request.parser_context or {}).get("view")
        kwarg = getattr(view, "app_user_kwarg", None)
        external_user_id = view.kwargs.get(kwarg) if kwarg else None
        fetched: dict[str, AppUser | None] = {}
        if isinstance(external_user_id, str):
            credential, app_user = credential_with_app_user(public_key=public_key, external_user_id=external_user_id)
            fetched[external_user_id] = app_user
        else:
            credential = credential_with_app(public_key=public_key)
        # Unknown keys still pay for a comparison, so timing does not tell which public keys exist.
        expected = credential.secret_hash if credential is not None else "0" * 64
        if not crypto.hashes_match(expected, candidate) or credential is None:
            raise exceptions.AuthenticationFailed(_("Invalid app credentials."), code="invalid_credentials")
        if credential.status == AppCredential.Status.SUSPENDED:
            raise exceptions.AuthenticationFailed(_("This credential is suspended."), code="credential_suspended")
        if credential.status != AppCredential.Status.ACTIVE:
            raise exceptions.AuthenticationFailed(_("This credential was revoked."), code="credential_revoked")
        app = credential.app
        if app.status != Application.Status.ACTIVE:
            raise exceptions.AuthenticationFailed(
                _("This application is %(status)s.") % {"status": app.status}, code="app_inactive")

        principal = AppPrincipal(app=app, credential=credential, scopes=frozenset(credential.scopes or ()),
                                 fetched_app_users=fetched)
        audit_context.bind(actor_type="app", actor_id=app.id, app_id=app.id)
        return principal, credential

    def authenticate_header(self, request: Request) -> str:
        return f'Basic realm="{self.www_authenticate_realm}"'


class SessionTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer pq_st_…``: a signed-in user's session.

    Revoked or expired sessions and users who are not active are refused at once.
    """

    www_authenticate_realm = "api"

    def authenticate(self, request: Request) -> tuple[User, SovereignSession] | None:
        auth = _authorization(request).split()
        if not auth or auth[0].lower() != b"bearer":
            return None
        if len(auth) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid Bearer header."), code="invalid_token")
        try:
            token = auth[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("Invalid session token."), code="invalid_token") from None
        if not token.startswith(crypto.SESSION_TOKEN_PREFIX) or len(token) > 128:
            raise exceptions.AuthenticationFailed(_("Invalid session token."), code="invalid_token")

        session = (SovereignSession.objects.select_related("user")
                   .filter(token_hash=crypto.keyed_hash("session-token", token)).first())
        if session is None:
            raise exceptions.AuthenticationFailed(_("Invalid session token."), code="invalid_token")
        if not session.is_active:
            raise exceptions.AuthenticationFailed(_("This session was ended."), code="session_revoked")
        if session.expires_at <= timezone.now():
            raise exceptions.AuthenticationFailed(_("This session has expired."), code="session_expired")
        user = session.user
        if user.status != User.Status.ACTIVE:
            raise exceptions.AuthenticationFailed(_("This account is %(status)s.") % {"status": user.status},
                                                  code="user_inactive")
        audit_context.bind(actor_type="user", actor_id=user.id, app_id=None)
        return user, session

    def authenticate_header(self, request: Request) -> str:
        return f'Bearer realm="{self.www_authenticate_realm}"'
