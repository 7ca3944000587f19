"""Staff actions on applications and users outrank their tenant (issue 23, findings 3 and 4): a suspension staff
set is a lock the console shows with its reason, only staff lift it, and the owner's own API cannot work around it.
"""
import pytest
from django.urls import reverse

from identity.models import AppCredential, Application, User
from tests.identity.conftest import basic
from tests.infrastructure.conftest import audited

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def staff_locks():
    """The staff locks (imported here: on the code before them, each story fails at its own attack step)."""
    from infrastructure.models import StaffLock

    return StaffLock.objects


@pytest.fixture
def console(client):
    admin = User.objects.create_superuser("locks-root", "pw-Console-1234")
    client.force_login(admin)
    client.staff = admin
    return client


def app_action(console, app, action: str):
    response = console.post(reverse("admin:identity_application_changelist"),
                            {"action": action, "_selected_action": [str(app.pk)]})
    app.refresh_from_db()
    return response


def test_a_suspension_staff_set_is_locked_shown_and_lifted_only_by_staff(console, make_app):
    app, _credential, _header = make_app()
    app_action(console, app, "suspend")
    page = console.get(reverse("admin:identity_application_change", args=[app.pk])).content.decode()
    assert "Locked by staff" in page and "suspended in the console by locks-root" in page
    lock = staff_locks().in_force().get(target_id=app.pk)
    assert (lock.target_type, lock.cause, lock.tenant_id, lock.locked_by) == (
        "identity.application", "staff", app.owner_id, console.staff.pk)
    assert [e.action for e in audited("STAFF_LOCK_SET") if e.target_id == lock.pk] == ["lock"]

    app_action(console, app, "reactivate")

    lock.refresh_from_db()
    assert app.status == "active" and not lock.in_force
    assert [e.action for e in audited("STAFF_LOCK_LIFTED") if e.target_id == lock.pk] == ["lift"]


def test_a_key_the_owner_issues_for_an_app_staff_suspended_does_not_work(console, make_app, user_client,
                                                                          app_client):
    """Issuing keys does not undo the suspension: the new key is refused like the others until staff reactivate
    the app (a guard: the owner may prepare new keys, e.g. after a leak, but cannot use them)."""
    owner_client, owner, _session = user_client()
    app, _credential, _header = make_app(owner=owner)
    app_action(console, app, "suspend")
    issued = owner_client.post(f"/api/v1/apps/{app.pk}/credentials", {"name": "fresh", "scopes": ["identity"]},
                               format="json")
    assert issued.status_code == 201
    fresh = app_client(basic(issued.json()["public_key"], issued.json()["secret"]))
    refused = fresh.post("/api/v1/app/users", {"external_user_id": "x", "phone": "+5511912345000"}, format="json")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "app_inactive"


def test_banning_an_owner_shows_the_cascade_on_each_app_and_key(console, make_app):
    app, credential, _header = make_app()
    console.post(reverse("admin:identity_user_changelist"), {"action": "ban", "_selected_action": [str(app.owner_id)]})
    app.refresh_from_db()
    credential.refresh_from_db()
    assert (app.status, credential.status) == (Application.Status.SUSPENDED, AppCredential.Status.SUSPENDED)
    for url in (reverse("admin:identity_application_change", args=[app.pk]),
                reverse("admin:identity_appcredential_change", args=[credential.pk])):
        page = console.get(url).content.decode()
        assert "owner banned: banned in the console by locks-root" in page, url
        assert "the tenant&#x27;s owner is suspended or banned" in page, url
    # The cascade's locks are lifted with the owner, not one by one.
    lock = staff_locks().in_force().get(target_id=app.pk)
    console.post(reverse("admin:infrastructure_stafflock_changelist"),
                 {"action": "lift", "_selected_action": [str(lock.pk)], "confirm": "yes", "reason": "try it"})
    lock.refresh_from_db()
    assert lock.in_force


def test_a_suspended_key_can_still_be_revoked_and_stays_revoked(console, make_app):
    app, credential, _header = make_app()
    console.post(reverse("admin:identity_user_changelist"),
                 {"action": "suspend", "_selected_action": [str(app.owner_id)]})
    console.post(reverse("admin:identity_appcredential_changelist"),
                 {"action": "revoke", "_selected_action": [str(credential.pk)]})
    credential.refresh_from_db()
    assert credential.status == AppCredential.Status.REVOKED
    assert [(e.before, e.after) for e in audited("APP_CREDENTIAL_REVOKED") if e.target_id == credential.pk] == [
        ({"status": "suspended"}, {"status": "revoked"})]
    console.post(reverse("admin:identity_user_changelist"),
                 {"action": "reactivate", "_selected_action": [str(app.owner_id)]})
    credential.refresh_from_db()
    app.refresh_from_db()
    assert (app.status, credential.status) == (Application.Status.ACTIVE, AppCredential.Status.REVOKED)


def test_an_app_suspended_before_staff_locks_existed_stays_suspended_after_its_owners_ban(console, make_app):
    """The migration gives earlier suspensions their lock: reactivating a banned owner then brings back only what
    the ban suspended."""
    import importlib
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection

    migration = importlib.import_module("identity.migrations.0006_staff_locks_for_earlier_suspensions")
    legacy, _credential, _header = make_app()
    sibling, _credential, _header = make_app(owner=legacy.owner)
    Application.objects.filter(pk=legacy.pk).update(status="suspended")  # as the console left it before locks
    migration.lock_earlier_suspensions(apps, SimpleNamespace(connection=connection))

    for action in ("ban", "reactivate"):
        console.post(reverse("admin:identity_user_changelist"),
                     {"action": action, "_selected_action": [str(legacy.owner_id)]})

    legacy.refresh_from_db()
    sibling.refresh_from_db()
    assert (legacy.status, sibling.status) == ("suspended", "active")
    lock = staff_locks().in_force().get(target_id=legacy.pk)
    assert lock.reason == "suspended in the console before staff locks were recorded"
