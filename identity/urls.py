"""Routes of the identity app, mounted at /api/v1/ by prostqs/urls.py."""
from django.urls import path

from identity.api import app, apps, me, otp

# Apps' own calls first: they are the commonest requests.
urlpatterns = [
    path("app/users", app.AppUsersView.as_view(), name="app-users"),
    path("app/users/<text:external_user_id>", app.AppUserDetailView.as_view(), name="app-user"),
    path("app/users/<text:external_user_id>/links", app.AppUserLinksView.as_view(), name="app-user-links"),
    path("app/users/<text:external_user_id>/verifications", app.AppUserVerificationsView.as_view(),
         name="app-user-verifications"),
    path("app/users/<text:external_user_id>/verifications/<uuid:verification_id>/confirm",
         app.AppUserVerificationConfirmView.as_view(), name="app-user-verification-confirm"),
    path("app/sessions", app.AppSessionsView.as_view(), name="app-sessions"),
    path("app/sessions/<uuid:session_id>", app.AppSessionDetailView.as_view(), name="app-session"),
    path("identity/otp/start", otp.OtpStartView.as_view(), name="identity-otp-start"),
    path("identity/otp/verify", otp.OtpVerifyView.as_view(), name="identity-otp-verify"),
    path("identity/me", me.MeView.as_view(), name="identity-me"),
    path("identity/me/profile", me.ProfileView.as_view(), name="identity-me-profile"),
    path("identity/sessions", me.SessionsView.as_view(), name="identity-sessions"),
    path("identity/sessions/<uuid:session_id>", me.SessionDetailView.as_view(), name="identity-session"),
    path("identity/logout", me.LogoutView.as_view(), name="identity-logout"),
    path("apps", apps.AppsView.as_view(), name="apps"),
    path("apps/<uuid:app_id>", apps.AppDetailView.as_view(), name="app-detail"),
    path("apps/<uuid:app_id>/webhook-secret", apps.WebhookSecretView.as_view(), name="app-webhook-secret"),
    path("apps/<uuid:app_id>/credentials", apps.CredentialsView.as_view(), name="app-credentials"),
    path("apps/<uuid:app_id>/credentials/<uuid:credential_id>", apps.CredentialDetailView.as_view(),
         name="app-credential"),
    path("audit/events", app.AuditEventsView.as_view(), name="app-audit-events"),
]
