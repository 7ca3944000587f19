"""Catalog domains Identity and Application (explicit re-exports)."""
from identity.models.apps import AppCredential, Application, AppSession, AppUser, Scope
from identity.models.otp import BLOCKED_UNTIL_CLEARED, PendingVerification, RateLimitEntry, SovereignSession
from identity.models.users import AuthMethod, IdentityLink, SovereignIdentity, User, UserManager, UserProfile

__all__ = [
    "BLOCKED_UNTIL_CLEARED",
    "AppCredential",
    "AppSession",
    "AppUser",
    "Application",
    "AuthMethod",
    "IdentityLink",
    "PendingVerification",
    "RateLimitEntry",
    "Scope",
    "SovereignIdentity",
    "SovereignSession",
    "User",
    "UserManager",
    "UserProfile",
]
