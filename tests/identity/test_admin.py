"""The console: pages render, actions call the services, secrets and codes never show."""
import pytest
from django.urls import reverse

from identity.crypto import hashes_match, keyed_hash
from identity.models import (
    BLOCKED_UNTIL_CLEARED,
    AppCredential,
    Application,
    AppSession,
    PendingVerification,
    RateLimitEntry,
    SovereignSession,
    User,
)
from identity.services.apps import app_session_open, app_set_status, app_user_attest, app_user_link
from identity.services.otp import otp_start
from identity.services.users import identity_link_create
from tests.infrastructure.conftest import audited

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]

MODELS = ["user", "sovereignidentity", "userprofile", "authmethod", "identitylink", "sovereignsession",
          "pendingverification", "ratelimitentry", "application", "appcredential", "appuser", "appsession"]


def _events(event_type: str, target) -> list[tuple[str, dict]]:
    """(action, after) of the audit events of this type about ``target``."""
    return [(e.action, e.after) for e in audited(event_type) if str(e.target_id) == str(target.pk)]


@pytest.fixture
def console(client):
    admin = User.objects.create_superuser("root", "pw-Console-1234")
    client.force_login(admin)
    return client


@pytest.fixture
def world(make_app, sign_in, run_jobs, otp_outbox):
    """One of everything."""
    app, credential, _header = make_app(scopes=["identity"])
    app_user, _ = app_user_link(app=app, external_user_id="c-1", phone="+5511912345678")
    app_user = app_user_attest(app_user=app_user, actor=None, reason="checked by a test")
    app_session_open(app_user=app_user, ip_address="198.51.100.1")
    identity_link_create(app=app, user=app_user.user, provider="google", provider_id="g-1")
    sign_in("+5511912345678")
    verification = otp_start(phone="+5511912345678", ip="192.0.2.1")
    run_jobs()
    return {"app": app, "credential": credential, "verification": verification,
            "code": otp_outbox.code_for(verification.pk)}


@pytest.mark.parametrize("model", MODELS)
def test_every_page_renders(console, world, model):
    changelist = console.get(reverse(f"admin:identity_{model}_changelist"))
    assert changelist.status_code == 200
    obj = type(world["app"])._meta.apps.get_model("identity", model).objects.first()
    assert obj is not None
    change = console.get(reverse(f"admin:identity_{model}_change", args=[obj.pk]))
    assert change.status_code == 200
    history = console.get(reverse(f"admin:identity_{model}_history", args=[obj.pk]))
    assert history.status_code == 200


def test_verifications_never_show_the_code_or_its_hash(console, world):
    verification = PendingVerification.objects.get(pk=world["verification"].pk)
    page = console.get(reverse("admin:identity_pendingverification_change", args=[verification.pk])).content.decode()
    assert verification.code_hash not in page
    assert f">{world['code']}<" not in page and f'"{world["code"]}"' not in page


def test_credentials_never_show_the_secret_hash(console, world):
    credential = world["credential"]
    page = console.get(reverse("admin:identity_appcredential_change", args=[credential.pk])).content.decode()
    assert credential.secret_hash not in page and credential.public_key in page


def test_issuing_a_credential_shows_the_secret_once(console, world):
    response = console.post(reverse("admin:identity_appcredential_add"),
                            {"app": str(world["app"].pk), "name": "Console", "scopes": ["billing", "audit"]})
    assert response.status_code == 200
    issued = AppCredential.objects.get(name="Console")
    assert issued.scopes == ["billing", "audit"] and issued.created_by.username == "root"
    page = response.content.decode()
    assert page.count("pq_sk_") == 1 and issued.public_key in page
    secret = next(row["value"] for row in response.context["secrets"] if row["value"].startswith("pq_sk_"))
    assert hashes_match(issued.secret_hash, keyed_hash("app-secret", secret))
    # Shown in this response only: never cached, never in a flash message (a cookie or the session store).
    assert "no-store" in response["Cache-Control"] and "messages" not in response.cookies
    assert response.context["next_url"] == reverse("admin:identity_appcredential_changelist")  # where Save goes
    again = console.get(reverse("admin:identity_appcredential_change", args=[issued.pk])).content.decode()
    assert "pq_sk_" not in again


def test_a_credential_issued_from_a_popup_shows_its_secret_then_hands_the_credential_to_the_opener(console, world):
    import json

    url = reverse("admin:identity_appcredential_add") + "?_to_field=id&_popup=1"
    response = console.post(url, {"app": str(world["app"].pk), "name": "Popup", "scopes": ["identity"],
                                  "_popup": "1", "_to_field": "id"})
    issued = AppCredential.objects.get(name="Popup")
    assert response.status_code == 200 and response.templates[0].name == "admin/identity/secrets_once.html"
    assert response.content.decode().count("pq_sk_") == 1
    handed = json.loads(response.context["popup_response_data"])
    assert handed["value"] == str(issued.pk) and "pq_sk_" not in response.context["popup_response_data"]
    assert 'data-popup-response="' in response.content.decode()


def test_a_deleted_app_gets_no_credential_in_the_console(console, world):
    app_set_status(app=world["app"], status=Application.Status.DELETED, reason="test")
    before = AppCredential.objects.count()
    response = console.post(reverse("admin:identity_appcredential_add"),
                            {"app": str(world["app"].pk), "name": "Late", "scopes": ["identity"]})
    assert response.status_code == 200
    assert "A deleted application gets no credentials." in response.content.decode()
    assert AppCredential.objects.count() == before


def test_a_refusal_after_validation_is_a_message_and_saves_nothing(console, world, monkeypatch):
    """A change that wins a race after the form was validated: the service's refusal, not a server error."""
    from identity import admin as identity_admin
    from identity.services import apps as app_services

    def deleted_meanwhile(*, app, **kwargs):
        app_set_status(app=app, status=Application.Status.DELETED, reason="meanwhile")
        return app_services.credential_issue(app=Application.objects.get(pk=app.pk), **kwargs)

    monkeypatch.setattr(identity_admin, "credential_issue", deleted_meanwhile)
    before = AppCredential.objects.count()
    url = reverse("admin:identity_appcredential_add")
    response = console.post(url, {"app": str(world["app"].pk), "name": "Late", "scopes": ["identity"]})
    assert response.status_code == 302 and response["Location"] == url
    shown = [str(m) for m in console.get(url).context["messages"]]
    assert "A deleted application gets no credentials." in shown  # once, not repeated from its field details
    world["app"].refresh_from_db()
    assert AppCredential.objects.count() == before and world["app"].status == "active"  # all rolled back


def test_a_slug_taken_meanwhile_is_one_message_and_no_app(console, world, monkeypatch):
    from identity import admin as identity_admin
    from identity.services import apps as app_services

    def taken_meanwhile(**kwargs):
        app_services.app_create(owner=kwargs["owner"], name="Faster", slug=kwargs["slug"])
        return app_services.app_create(**kwargs)

    monkeypatch.setattr(identity_admin, "app_create", taken_meanwhile)
    url = reverse("admin:identity_application_add")
    before = Application.objects.count()
    response = console.post(url, {"name": "Slower", "slug": "race", "owner": str(world["app"].owner.pk),
                                  "webhook_url": "", "credentials-TOTAL_FORMS": "0", "credentials-INITIAL_FORMS": "0"})
    assert response.status_code == 302 and response["Location"] == url
    assert [str(m) for m in console.get(url).context["messages"]] == ["This slug is taken."]
    assert Application.objects.count() == before  # the racing one too: the admin's transaction rolled back


def test_creating_an_app_in_the_console_goes_through_the_service(console, world):
    owner = world["app"].owner
    response = console.post(reverse("admin:identity_application_add"),
                            {"name": "Console App", "slug": "", "owner": str(owner.pk), "webhook_url": "",
                             "credentials-TOTAL_FORMS": "0", "credentials-INITIAL_FORMS": "0"})
    assert response.status_code == 200, response.content[:2000]
    app = Application.objects.get(name="Console App")
    assert app.slug == "console-app"
    assert [action for action, _after in _events("APP_CREATED", app)] == ["create"]


@pytest.mark.parametrize(("slug", "problem"), [
    ("Console", "Application with this Slug already exists."),
    ("___", "Use letters, numbers, hyphens or underscores."),
])
def test_the_console_checks_a_slug_as_it_will_be_stored(console, world, slug, problem):
    owner = world["app"].owner
    Application.objects.filter(pk=world["app"].pk).update(slug="console")
    before = Application.objects.count()
    response = console.post(reverse("admin:identity_application_add"),
                            {"name": "Another", "slug": slug, "owner": str(owner.pk), "webhook_url": "",
                             "credentials-TOTAL_FORMS": "0", "credentials-INITIAL_FORMS": "0"})
    assert response.status_code == 200
    assert problem in response.content.decode()
    assert Application.objects.count() == before


def test_revoke_credential_action(console, world):
    url = reverse("admin:identity_appcredential_changelist")
    console.post(url, {"action": "revoke", "_selected_action": [str(world["credential"].pk)]})
    world["credential"].refresh_from_db()
    assert world["credential"].status == "revoked"
    assert _events("APP_CREDENTIAL_REVOKED", world["credential"]) == [("revoke", {"status": "revoked"})]


def test_suspend_app_action(console, world):
    console.post(reverse("admin:identity_application_changelist"),
                 {"action": "suspend", "_selected_action": [str(world["app"].pk)]})
    world["app"].refresh_from_db()
    assert world["app"].status == "suspended"
    assert _events("APP_STATUS_CHANGED", world["app"]) == [("suspended", {"status": "suspended"})]


def test_unblock_action_clears_a_block(console, world, settings):
    entry = RateLimitEntry.objects.get(key="phone:+5511912345678", action="otp_send")
    RateLimitEntry.objects.filter(pk=entry.pk).update(attempt_count=100, blocked_reason="failures",
                                                      blocked_until=BLOCKED_UNTIL_CLEARED)
    blocked = console.get(reverse("admin:identity_ratelimitentry_changelist") + "?blocked=admin")
    assert "phone:+5511912345678" in blocked.content.decode()
    console.post(reverse("admin:identity_ratelimitentry_changelist"),
                 {"action": "unblock", "_selected_action": [str(entry.pk)]})
    entry.refresh_from_db()
    assert entry.blocked_until is None and entry.attempt_count == 0
    assert [action for action, _after in _events("RATE_LIMIT_CLEARED", entry)] == ["clear"]


def test_suspending_a_user_in_the_console_ends_their_sessions(console, world):
    session = SovereignSession.objects.filter(is_active=True).first()
    user = session.user
    console.post(reverse("admin:identity_user_changelist"), {"action": "suspend", "_selected_action": [str(user.pk)]})
    user.refresh_from_db()
    session.refresh_from_db()
    assert user.status == "suspended" and not session.is_active
    assert not AppSession.objects.filter(user=user, status="active").exists()
    assert _events("USER_STATUS_CHANGED", user) == [("suspended", {"status": "suspended"})]


def test_revoke_session_action(console, world):
    session = SovereignSession.objects.filter(is_active=True).first()
    console.post(reverse("admin:identity_sovereignsession_changelist"),
                 {"action": "revoke", "_selected_action": [str(session.pk)]})
    session.refresh_from_db()
    assert not session.is_active
