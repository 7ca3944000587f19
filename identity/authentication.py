"""DRF authentication: applications by HTTP Basic credentials, signed-in users by bearer session tokens.

Both bind the audit context (``audit.context``) so that every event recorded while serving the request names the
acting app or user.
"""
from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from audit import context as audit_context
from identity import crypto
from identity.models import AppCredential, Application, SovereignSession, User
from identity.selectors import credential_with_app


@dataclass(frozen=True, eq=False)
class AppPrincipal:
    """``request.user`` for an application: the app, the credential it used and that credential's scopes."""

    app: Application
    credential: AppCredential
    scopes: frozenset[str] = field(default_factory=frozenset)

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

    def __str__(self) -> str:
        return f"app {self.app.slug}"


class AppCredentialAuthentication(BaseAuthentication):
    """``Authorization: Basic base64(pq_pk_…:pq_sk_…)``.

    The secret is checked against its keyed hash in constant time. Revoked credentials and apps that are not
    active are refused on the request after the change: nothing is cached.
    """

    www_authenticate_realm = "api"

    def authenticate(self, request: Request) -> tuple[AppPrincipal, AppCredential] | None:
        auth = get_authorization_header(request).split()
        if not auth or auth[0].lower() != b"basic":
            return None
        if len(auth) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid Basic header."), code="invalid_credentials")
        try:
            public_key, sep, secret = base64.b64decode(auth[1], validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise exceptions.AuthenticationFailed(_("Invalid Basic header."), code="invalid_credentials") from None
        if not sep or not public_key.startswith(crypto.PUBLIC_KEY_PREFIX) or len(public_key) > 64:
            raise exceptions.AuthenticationFailed(_("Invalid app credentials."), code="invalid_credentials")

        candidate = crypto.keyed_hash("app-secret", secret)
        credential = credential_with_app(public_key=public_key)
        # Unknown keys still pay for a comparison, so timing does not tell which public keys exist.
        expected = credential.secret_hash if credential is not None else "0" * 64
        if not crypto.hashes_match(expected, candidate) or credential is None:
            raise exceptions.AuthenticationFailed(_("Invalid app credentials."), code="invalid_credentials")
        if credential.status != AppCredential.Status.ACTIVE:
            raise exceptions.AuthenticationFailed(_("This credential was revoked."), code="credential_revoked")
        app = credential.app
        if app.status != Application.Status.ACTIVE:
            raise exceptions.AuthenticationFailed(
                _("This application is %(status)s.") % {"status": app.status}, code="app_inactive")

        principal = AppPrincipal(app=app, credential=credential, scopes=frozenset(credential.scopes or ()))
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
        auth = get_authorization_header(request).split()
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
