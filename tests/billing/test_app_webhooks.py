"""Billing tells applications what happened to their intents and payouts: one signed webhook per change, received by
a real local HTTP server, never duplicated by replays or redeliveries."""
import pytest

from billing.models import PaymentIntent, Provider
from billing.services.payouts import payout_request
from billing.services.webhooks import payment_intent_local_succeed
from governance.callbacks import approval_callback
from governance.models import ApprovalRequest
from governance.services.approvals import approval_decide
from governance.services.authorities import authority_grant
from identity.services.webhooks import WEBHOOK_JOB
from infrastructure.models import Job
from tests.billing.helpers import event
from tests.billing.test_api import INTENTS, PAYOUTS, PIX, post
from tests.billing.test_webhooks import dispute, failed, succeeded
from tests.webhook_receiver import verify

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


@pytest.fixture
def tenant(billing_app, webhook_receiver):
    return billing_app(webhook_url=webhook_receiver.url("/prostqs"))


def received_events(receiver, secret) -> list[dict]:
    assert all(verify(secret, r) for r in receiver.received)
    return [r.event for r in receiver.received]


def test_a_sent_payout_is_reported_once(tenant, webhook_receiver, run_jobs):
    account = tenant.account(balance=1000)
    body = {"account_id": str(account.pk), "amount": 300, "destination": PIX}
    created = post(tenant.client, PAYOUTS, body, key="po-hook")
    assert created.status_code == 201, created.content
    assert post(tenant.client, PAYOUTS, body, key="po-hook").status_code == 201  # a replay: no new effect
    run_jobs()
    (sent,) = received_events(webhook_receiver, tenant.webhook_secret)
    data = sent["data"]
    assert sent["type"] == "payout.sent" and data["payout_id"] == created.json()["id"]
    assert (data["status"], data["amount"], data["currency"], data["account_id"]) == ("sent", 300, "BRL",
                                                                                        str(account.pk))
    assert data["external_user_id"].startswith("ext-") and data["provider_reference"].startswith("po_local_")
    assert data["destination"].endswith("4321") and "98765" not in str(data)
    run_jobs()
    assert len(webhook_receiver.received) == 1


def test_a_refused_payout_is_reported_failed(tenant, webhook_receiver, run_jobs, settings):
    settings.BILLING_PAYOUT_BACKEND = "tests.billing.test_payouts.RefusingBackend"
    account = tenant.account(balance=1000)
    post(tenant.client, PAYOUTS, {"account_id": str(account.pk), "amount": 300, "destination": PIX}, key="po-2")
    run_jobs()
    (failed_event,) = received_events(webhook_receiver, tenant.webhook_secret)
    assert failed_event["type"] == "payout.failed"
    assert failed_event["data"]["status"] == "failed" and "account closed" in failed_event["data"]["failure_reason"]


def test_a_rejected_payout_is_reported_once_however_often_the_decision_is_delivered(tenant, webhook_receiver,
                                                                                     run_jobs, settings, make_user):
    settings.BILLING_PAYOUT_APPROVAL_THRESHOLD = 100
    account = tenant.account(balance=1000)
    payout = payout_request(account_id=account.pk, amount=500, destination=PIX, app_id=tenant.app.pk)
    request = ApprovalRequest.objects.get(reference=str(payout.pk))
    officer = make_user()
    authority_grant(user=officer, role="finance_officer", scopes=["billing"], max_impact="high", granted_by=None)
    approval_decide(request_id=request.pk, user=officer, decision="rejected",
                    justification="The destination belongs to someone else.")
    run_jobs()
    request.refresh_from_db()
    approval_callback("billing").on_rejected(request)  # delivered again
    run_jobs()
    (rejected,) = received_events(webhook_receiver, tenant.webhook_secret)
    assert rejected["type"] == "payout.failed"
    assert (rejected["data"]["approval"], rejected["data"]["status"]) == ("rejected", "failed")


def test_intent_events_are_reported_once_each_however_often_the_provider_sends_them(tenant, webhook_receiver,
                                                                                     run_jobs, post_webhook):
    account = tenant.account()
    created = post(tenant.client, INTENTS, {"account_id": str(account.pk), "amount": 2500, "currency": "BRL"},
                   key="pi-1")
    assert created.status_code == 201, created.content
    intent = PaymentIntent.objects.get(pk=created.json()["id"])
    other = post(tenant.client, INTENTS, {"account_id": str(account.pk), "amount": 700, "currency": "BRL"},
                 key="pi-2")
    declined = PaymentIntent.objects.get(pk=other.json()["id"])
    for one in (intent, declined):  # as if Stripe had made them: events name the provider's id
        PaymentIntent.objects.filter(pk=one.pk).update(stripe_intent_id=f"pi_test_{one.pk.hex[:12]}",
                                                       provider=Provider.STRIPE)
        one.refresh_from_db()
    for evt in (succeeded(intent), dispute(intent, amount=1000), failed(declined)):
        for _ in range(3):
            assert post_webhook(evt).status_code == 200
    run_jobs()
    events = received_events(webhook_receiver, tenant.webhook_secret)
    assert sorted(e["type"] for e in events) == ["payment_intent.confirmed", "payment_intent.disputed",
                                                 "payment_intent.failed"]
    by_type = {e["type"]: e["data"] for e in events}
    assert by_type["payment_intent.confirmed"]["payment_intent_id"] == str(intent.pk)
    assert by_type["payment_intent.confirmed"]["amount"] == 2500
    assert (by_type["payment_intent.disputed"]["status"], by_type["payment_intent.disputed"]["disputed_amount"]) == (
        "disputed", 1000)
    assert by_type["payment_intent.failed"]["failure_reason"] == "Your card was declined."
    assert "client_secret" not in str(events) and "pi_x_secret_y" not in str(events)
    assert len({e["id"] for e in events}) == 3


def test_a_local_intent_confirmed_from_the_console_path_is_reported(tenant, webhook_receiver, run_jobs):
    account = tenant.account()
    created = post(tenant.client, INTENTS, {"account_id": str(account.pk), "amount": 990, "currency": "BRL"},
                   key="pi-local")
    payment_intent_local_succeed(intent=PaymentIntent.objects.get(pk=created.json()["id"]))
    run_jobs()
    (confirmed,) = received_events(webhook_receiver, tenant.webhook_secret)
    assert confirmed["type"] == "payment_intent.confirmed" and confirmed["data"]["status"] == "confirmed"


def test_changes_made_without_an_application_notify_nobody(make_account, webhook_receiver, run_jobs):
    account = make_account(balance=1000)
    payout_request(account_id=account.pk, amount=100, destination=PIX)
    run_jobs()
    assert not Job.objects.filter(type=WEBHOOK_JOB).exists() and webhook_receiver.received == []


def test_an_unknown_provider_event_notifies_nobody(tenant, webhook_receiver, run_jobs, post_webhook):
    assert post_webhook(event("customer.created", {"id": "cus_1", "object": "customer"})).status_code == 200
    run_jobs()
    assert webhook_receiver.received == []
