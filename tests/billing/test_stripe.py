"""The real ``stripe`` client against localstripe, a fake Stripe server: intents, our idempotency key on the wire,
confirmations delivered by signed webhooks, subscriptions, reconcile, an unreachable provider."""
import time

import pytest

from audit.models import AuditEvent
from audit.services import audit_sequence
from billing.jobs import stripe_sync
from billing.models import IdempotencyKey, LedgerEntry, PaymentIntent, Subscription
from billing.services.reconcile import reconcile_run
from tests.billing.helpers import RecordingProxy, card

pytestmark = [pytest.mark.django_db]

INTENTS = "/api/v1/billing/payment-intents"
SUBSCRIPTIONS = "/api/v1/billing/subscriptions"


def create_intent(tenant, account, amount=2500, key="order-1"):
    response = tenant.client.post(INTENTS, {"account_id": str(account.pk), "amount": amount, "currency": "BRL"},
                                  format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 201, response.content
    return response


def confirm_at_stripe(stripe_api, provider_intent_id, number="4242424242424242"):
    stripe_api.v1.payment_intents.update(provider_intent_id, params={"payment_method": card(stripe_api, number)})
    try:
        stripe_api.v1.payment_intents.confirm(provider_intent_id)
    except Exception as exc:  # noqa: BLE001 - a declined card raises; the webhook carries the outcome
        return exc
    return None


def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_an_intent_is_created_at_stripe_with_our_idempotency_key(billing_app, stripe_on, stripe_api,
                                                                  localstripe_webhook):
    proxy = RecordingProxy(stripe_on.STRIPE_API_BASE)
    stripe_on.STRIPE_API_BASE = proxy.url
    try:
        tenant = billing_app()
        account = tenant.account()
        body = create_intent(tenant, account, key="order-7").json()
        sent = [r for r in proxy.requests if r["method"] == "POST" and r["path"] == "/v1/payment_intents"]
        assert len(sent) == 1
        assert sent[0]["headers"]["Idempotency-Key"] == f"{tenant.app.pk}:order-7"
        assert b"amount=2500" in sent[0]["body"] and b"currency=brl" in sent[0]["body"]
    finally:
        proxy.close()
    remote = stripe_api.v1.payment_intents.retrieve(body["provider_intent_id"])
    assert body["provider"] == "stripe" and body["status"] == "pending"
    assert body["provider_intent_id"].startswith("pi_") and body["client_secret"] == remote.client_secret
    assert remote.metadata["intent_id"] == body["id"]
    assert PaymentIntent.objects.get().stripe_intent_id == remote.id
    assert remote.client_secret not in str(list(IdempotencyKey.objects.values()))


def test_a_replayed_intent_gives_the_same_client_secret_without_creating_another(billing_app, stripe_on,
                                                                                localstripe_webhook):
    tenant = billing_app()
    account = tenant.account()
    first = create_intent(tenant, account, key="again")
    second = create_intent(tenant, account, key="again")
    assert second.json() == first.json() and second["Idempotent-Replayed"] == "true"
    assert PaymentIntent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_card_payment_is_credited_by_the_signed_webhook(billing_app, stripe_on, stripe_api, localstripe_webhook,
                                                          live_server):
    localstripe_webhook(f"{live_server.url}/api/v1/billing/webhooks/stripe")
    tenant = billing_app()
    account = tenant.account()
    paid = create_intent(tenant, account, amount=2500, key="paid").json()
    declined = create_intent(tenant, account, amount=900, key="declined").json()

    assert confirm_at_stripe(stripe_api, paid["provider_intent_id"]) is None
    assert confirm_at_stripe(stripe_api, declined["provider_intent_id"], number="4000000000000341") is not None

    def settled():
        statuses = dict(PaymentIntent.objects.values_list("id", "status"))
        return {str(k): v for k, v in statuses.items()} == {paid["id"]: "confirmed", declined["id"]: "failed"}

    assert wait_for(settled), dict(PaymentIntent.objects.values_list("stripe_intent_id", "status"))
    account.refresh_from_db()
    assert account.balance == 2500
    assert LedgerEntry.objects.filter(reference_id=paid["id"]).count() == 1


def test_reconcile_reports_a_payment_the_webhook_never_brought(billing_app, stripe_on, stripe_api,
                                                              localstripe_webhook, caplog):
    tenant = billing_app()
    account = tenant.account()
    missed = create_intent(tenant, account, amount=700, key="missed").json()
    create_intent(tenant, account, amount=800, key="untouched")
    confirm_at_stripe(stripe_api, missed["provider_intent_id"])

    report = reconcile_run()
    assert report.intents_checked == 2
    assert [(d.target_id, d.kind) for d in report.differences] == [(missed["id"], "provider")]
    assert "succeeded at the provider but pending here" in report.differences[0].message
    assert "reconcile" in caplog.text
    audit_sequence()
    assert AuditEvent.objects.filter(type="BILLING_RECONCILE_DIFFERENCE", target_id=missed["id"]).exists()
    summary = AuditEvent.objects.get(type="BILLING_RECONCILED")
    assert summary.metadata["differences"] == 1
    # Reported, not fixed:
    assert PaymentIntent.objects.get(pk=missed["id"]).status == "pending"
    account.refresh_from_db()
    assert account.balance == 0

    stripe_sync(intent_id=missed["id"])  # bringing the provider's state in is a separate, deliberate step
    assert PaymentIntent.objects.get(pk=missed["id"]).status == "confirmed"
    account.refresh_from_db()
    assert account.balance == 700
    assert reconcile_run().differences == []


def test_a_stripe_subscription_is_created_on_the_customers_card_and_canceled(billing_app, stripe_on, stripe_api,
                                                                           localstripe_webhook):
    tenant = billing_app()
    account = tenant.account()
    body = {"account_id": str(account.pk), "plan_id": "pro", "amount": 2990, "interval": "month"}
    missing = tenant.client.post(SUBSCRIPTIONS, body, format="json", HTTP_IDEMPOTENCY_KEY="s0")
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "payment_method_required"

    response = tenant.client.post(SUBSCRIPTIONS, {**body, "payment_method": card(stripe_api)}, format="json",
                                  HTTP_IDEMPOTENCY_KEY="s1")
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["status"], created["provider"]) == ("active", "stripe")
    remote = stripe_api.v1.subscriptions.retrieve(created["provider_subscription_id"])
    assert remote.status == "active" and remote.metadata["subscription_id"] == created["id"]
    account.refresh_from_db()
    assert account.stripe_customer_id == remote.customer

    canceled = tenant.client.post(f"{SUBSCRIPTIONS}/{created['id']}/cancel")
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert stripe_api.v1.subscriptions.retrieve(remote.id).status == "canceled"
    assert Subscription.objects.get().canceled_at is not None


def test_an_unreachable_provider_is_502_and_nothing_is_written(billing_app, stripe_on):
    from tests.billing.helpers import free_port

    stripe_on.STRIPE_API_BASE = f"http://127.0.0.1:{free_port()}"
    tenant = billing_app()
    account = tenant.account()
    response = tenant.client.post(INTENTS, {"account_id": str(account.pk), "amount": 10}, format="json",
                                  HTTP_IDEMPOTENCY_KEY="down")
    assert response.status_code == 502 and response.json()["error"]["code"] == "payment_provider_error"
    assert not PaymentIntent.objects.exists() and not IdempotencyKey.objects.exists()
