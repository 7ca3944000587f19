"""Containment, the owner's half (issue 23, finding 3): staff suspend or ban a tenant's owner in the console, and
every key of the tenant stops at once (billing payouts and intents, agents' proposals); no money moves. When staff
reactivate the owner, what the ban alone suspended comes back, and nothing else does.
"""
from __future__ import annotations

import base64

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import override_settings
from django.urls import reverse

from billing.models import LedgerEntry, PaymentIntent, Payout
from identity.models import AppCredential, Application
from tests.agents.conftest import ALL_SCOPES, error_code

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def staff_locks():
    """The staff locks (imported here: on the code before them, each story fails at its own attack step)."""
    from infrastructure.models import StaffLock

    return StaffLock.objects

PIX = {"type": "pix", "key": "pix-receiver@example.com"}
PAYOUTS = "/api/v1/billing/payouts"
INTENTS = "/api/v1/billing/payment-intents"


@pytest.fixture
def console(client):
    from identity.models import User

    staff = User.objects.create_superuser(username="containment-admin", password="x-long-password-1")
    client.force_login(staff)
    client.staff = staff
    return client


def set_user_status(console, user, action: str) -> None:
    response = console.post(reverse("admin:identity_user_changelist"),
                            {"action": action, ACTION_CHECKBOX_NAME: [str(user.pk)]})
    assert response.status_code == 302
    user.refresh_from_db()


def set_app_status(console, app, action: str) -> None:
    console.post(reverse("admin:identity_application_changelist"), {"action": action,
                                                                     ACTION_CHECKBOX_NAME: [str(app.pk)]})
    app.refresh_from_db()


class Key:
    """One of the tenant's credentials, as the attacker holds it."""

    def __init__(self, credential, client):
        self.credential, self.client = credential, client

    @classmethod
    def issue(cls, app, *, name: str) -> Key:
        from identity.services.apps import credential_issue
        from tests.clients import APIClient

        issued = credential_issue(app=app, name=name, scopes=list(ALL_SCOPES))
        client = APIClient()
        token = base64.b64encode(f"{issued.credential.public_key}:{issued.secret}".encode()).decode()
        client.credentials(HTTP_AUTHORIZATION=f"Basic {token}")
        return cls(issued.credential, client)

    def payout(self, account, key: str, amount: int = 10_000):
        return self.client.post(PAYOUTS, {"account_id": str(account.pk), "amount": amount, "destination": PIX},
                                format="json", HTTP_IDEMPOTENCY_KEY=key)

    def intent(self, account, key: str):
        return self.client.post(INTENTS, {"account_id": str(account.pk), "amount": 5_000}, format="json",
                                HTTP_IDEMPOTENCY_KEY=key)

    def propose(self, agent, account, key: str):
        return self.client.post(f"/api/v1/agents/{agent.pk}/decisions",
                                {"domain": "billing", "action": "payout", "target_entity": f"account:{account.pk}",
                                 "payload": {"amount": 10_000, "destination": PIX}},
                                format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.fixture
def world(tenant, make_agent, make_billing_account, policy):
    """A tenant with two apps, four keys, a customer with 50,000 cents and a billing agent."""
    from identity.services.apps import app_create

    policy()
    second_app = app_create(owner=tenant.owner, name="Second app of the tenant")
    keys = {"original": Key(AppCredential.objects.get(app=tenant.app), tenant.client()),
            "first": Key.issue(tenant.app, name="first"), "first-spare": Key.issue(tenant.app, name="spare"),
            "second": Key.issue(second_app, name="second")}
    account = make_billing_account(tenant, balance=50_000)
    # The customer proved themselves to the second app too (billing.tenancy: proof is per app).
    from identity.services.apps import app_user_attest, app_user_link

    app_user, _ = app_user_link(app=second_app, external_user_id="same-customer", user_id=account.user_id)
    app_user_attest(app_user=app_user, actor=None, reason="checked by a test")
    agent = make_agent(tenant, level=3, policies={"billing": {"allowed_actions": ["payout"]}})
    return {"owner": tenant.owner, "apps": [tenant.app, second_app], "keys": keys, "account": account,
            "agent": agent}


def money_moved(account) -> bool:
    account.refresh_from_db()
    return (account.balance != 50_000 or Payout.objects.exists() or PaymentIntent.objects.exists()
            or LedgerEntry.objects.filter(account=account).count() != 1)


def test_banning_the_owner_stops_every_key_of_the_tenant(console, world, audit_log):
    for key in world["keys"].values():  # every key works before
        assert key.client.get("/api/v1/agents").status_code == 200

    set_user_status(console, world["owner"], "ban")

    for name, key in world["keys"].items():
        for response in (key.payout(world["account"], f"payout-{name}"), key.intent(world["account"], f"pi-{name}"),
                         key.propose(world["agent"], world["account"], f"agent-{name}")):
            assert response.status_code == 401, (name, response.json())
            assert error_code(response) == "credential_suspended", name
    assert not money_moved(world["account"])
    for app in world["apps"]:
        app.refresh_from_db()
        assert app.status == "suspended"
        audit_log.assert_recorded("APP_STATUS_CHANGED", target_id=app.pk, after={"status": "suspended"})
        lock = staff_locks().in_force().get(target_id=app.pk)
        assert lock.cause == "owner_inactive" and lock.reason.startswith("owner banned")
    for key in world["keys"].values():
        key.credential.refresh_from_db()
        assert key.credential.status == "suspended"
        audit_log.assert_recorded("APP_CREDENTIAL_SUSPENDED", target_id=key.credential.pk)


def test_suspending_the_owner_does_the_same(console, world):
    set_user_status(console, world["owner"], "suspend")
    response = world["keys"]["first"].payout(world["account"], "payout-after-suspension")
    assert response.status_code == 401 and error_code(response) == "credential_suspended"
    assert not money_moved(world["account"])


def test_an_agents_decision_waiting_for_approval_does_not_execute_after_the_ban(console, world, policy, approver,
                                                                                decide, run_jobs):
    policy("billing", "payout", effect="require_approval", priority=10)
    pending = world["keys"]["first"].propose(world["agent"], world["account"], "agent-before-ban").json()
    assert pending["outcome"] == "pending_approval"
    set_user_status(console, world["owner"], "ban")

    decide(approver, pending["approval_request_id"])
    run_jobs("governance.approval_callback")

    from agents.models import AgentDecision

    decision = AgentDecision.objects.get(pk=pending["id"])
    assert decision.status == "rejected" and decision.reasons[-1]["code"] == "app_inactive"
    assert not money_moved(world["account"])


def test_staff_cannot_reactivate_an_app_while_its_owner_is_banned(console, world):
    app = world["apps"][0]
    set_user_status(console, world["owner"], "ban")
    set_app_status(console, app, "reactivate")
    assert app.status == "suspended"
    response = world["keys"]["first"].payout(world["account"], "payout-after-app-reactivation")
    assert response.status_code == 401
    page = console.get(reverse("admin:identity_application_change", args=[app.pk])).content.decode()
    assert "owner banned" in page and "suspended or banned" in page


@override_settings(BILLING_PAYOUT_APPROVAL_THRESHOLD=1_000_000)
def test_reactivating_the_owner_brings_back_only_what_the_ban_suspended(console, world, audit_log):
    first_app, second_app = world["apps"]
    keys = world["keys"]
    set_app_status(console, second_app, "suspend")  # staff's own reasons, before the ban
    set_user_status(console, world["owner"], "ban")
    assert keys["first"].payout(world["account"], "payout-while-banned").status_code == 401
    console.post(reverse("admin:identity_appcredential_changelist"),  # a key revoked while the owner is out
                 {"action": "revoke", ACTION_CHECKBOX_NAME: [str(keys["first-spare"].credential.pk)]})

    set_user_status(console, world["owner"], "reactivate")

    first_app.refresh_from_db()
    second_app.refresh_from_db()
    assert (first_app.status, second_app.status) == ("active", "suspended")
    statuses = {name: AppCredential.objects.get(pk=key.credential.pk).status for name, key in keys.items()}
    assert statuses == {"original": "active", "first": "active", "first-spare": "revoked", "second": "active"}
    paid = keys["first"].payout(world["account"], "payout-after-reactivation")
    assert paid.status_code == 201, paid.json()
    assert error_code(keys["first-spare"].payout(world["account"], "spare")) == "credential_revoked"
    assert error_code(keys["second"].payout(world["account"], "second")) == "app_inactive"
    assert staff_locks().in_force().filter(cause="owner_inactive").count() == 0
    assert [lock.target_id for lock in staff_locks().in_force()] == [second_app.pk]
    audit_log.assert_recorded("APP_CREDENTIAL_RESTORED", target_id=keys["first"].credential.pk)
    # The owner's own lock, then the ban's: two apps and four keys.
    assert audit_log.events("STAFF_LOCK_LIFTED").count() == 1 + 2 + 4


def test_a_suspension_becoming_a_ban_keeps_the_tenant_contained_with_the_new_reason(console, world):
    set_user_status(console, world["owner"], "suspend")
    set_user_status(console, world["owner"], "ban")
    assert world["keys"]["second"].payout(world["account"], "after-ban").status_code == 401
    locks = staff_locks().in_force().filter(cause="owner_inactive")
    assert locks.count() == 2 + 4 and all(lock.reason.startswith("owner banned") for lock in locks)
    set_user_status(console, world["owner"], "reactivate")
    assert world["keys"]["second"].payout(world["account"], "after-reactivation").status_code == 201


def test_no_new_app_for_a_banned_owner(console, world):
    set_user_status(console, world["owner"], "ban")
    before = Application.objects.count()
    url = reverse("admin:identity_application_add")
    response = console.post(url, {"name": "Fresh start", "slug": "", "owner": str(world["owner"].pk),
                                  "webhook_url": "", "credentials-TOTAL_FORMS": "0", "credentials-INITIAL_FORMS": "0"})
    assert response.status_code == 302 and response["Location"] == url
    assert [str(m) for m in console.get(url).context["messages"]][-1] == "The owner is suspended or banned."
    assert Application.objects.count() == before


def test_the_owner_page_says_they_are_locked_by_staff_and_why(console, world):
    set_user_status(console, world["owner"], "ban")
    page = console.get(reverse("admin:identity_user_change", args=[world["owner"].pk])).content.decode()
    assert "Locked by staff" in page and "banned in the console by containment-admin" in page

