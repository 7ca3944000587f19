"""DRF permissions: which caller may use an endpoint.

``scope_required("billing")`` admits an application whose credential holds the ``billing`` scope; everyone else
who is authenticated gets 403 (``scope_required`` for an app without the scope, ``app_credentials_required`` for a
signed-in user). ``IsSignedInUser`` admits a user holding a session token. Unauthenticated callers get 401 with the
first authentication class's challenge.
"""
from __future__ import annotations

from functools import cache

from django.utils.translation import gettext as _
from rest_framework.permissions import BasePermission

from identity.authentication import AppPrincipal
from identity.models import Scope, SovereignSession, User

SCOPE_REQUIRED = "scope_required"
APP_CREDENTIALS_REQUIRED = "app_credentials_required"
SIGNED_IN_USER_REQUIRED = "signed_in_user_required"


class ScopePermission(BasePermission):
    """Base of the classes made by ``scope_required``; ``required_scope`` names the scope."""

    required_scope: str = ""
    message = ""
    code = SCOPE_REQUIRED

    def has_permission(self, request, view) -> bool:
        principal = request.user
        if not isinstance(principal, AppPrincipal):
            self.code = APP_CREDENTIALS_REQUIRED
            self.message = _("This endpoint is for applications: authenticate with app credentials.")
            return False
        if self.required_scope not in principal.scopes:
            self.code = SCOPE_REQUIRED
            self.message = _("This credential lacks the %(scope)s scope.") % {"scope": self.required_scope}
            return False
        return True


@cache
def scope_required(scope: str) -> type[ScopePermission]:
    """The permission class for ``scope`` (one class per scope, so views can be inspected by it)."""
    if scope not in Scope.values:
        raise ValueError(f"unknown scope {scope!r}; known: {', '.join(Scope.values)}")
    return type(f"ScopeRequired_{scope}", (ScopePermission,), {"required_scope": scope,
                                                                "__doc__": f"Requires the {scope} scope."})


class IsSignedInUser(BasePermission):
    """A user signed in with a session token (not an application, not a console cookie)."""

    code = SIGNED_IN_USER_REQUIRED

    @property
    def message(self) -> str:
        return _("This endpoint is for signed-in users: send Authorization: Bearer <session token>.")

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, User) and isinstance(request.auth, SovereignSession)
