"""Stripe webhooks signed with Stripe's own scheme: verified, recorded once, applied once in any order."""
import json
import random
import time

import pytest

from audit.models import StagedEvent
from billing.models import LedgerEntry, PaymentIntent, ProcessedWebhook, Provider, Subscription
from billing.services.payments import payment_intent_create
from billing.services.subscriptions import subscription_create
from billing.services.webhooks import payment_intent_local_succeed
from billing.verification import ledger_check
from core.errors import ServiceError
from tests.billing.helpers import event, sign

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def stripe_intent(account, amount=1000, provider_id=None):
    """An intent as if Stripe had created it (the provider's id is all events refer to)."""
    intent, _secret = payment_intent_create(account_id=account.pk, amount=amount, currency="BRL")
    provider_id = provider_id or f"pi_test_{intent.pk.hex[:16]}"
    PaymentIntent.objects.filter(pk=intent.pk).update(stripe_intent_id=provider_id, provider=Provider.STRIPE)
    intent.refresh_from_db()
    return intent


def succeeded(intent, **extra):
    return event("payment_intent.succeeded", {"id": intent.stripe_intent_id, "object": "payment_intent",
                                              "amount": intent.amount, "amount_received": intent.amount,
                                              "status": "succeeded", "client_secret": "pi_x_secret_y", **extra})


def failed(intent):
    return event("payment_intent.payment_failed", {
        "id": intent.stripe_intent_id, "object": "payment_intent", "amount": intent.amount,
        "status": "requires_payment_method",
        "last_payment_error": {"code": "card_declined", "message": "Your card was declined."}})


def dispute(intent, amount=None, dispute_id="dp_1"):
    return event("charge.dispute.created", {"id": dispute_id, "object": "dispute", "amount": amount or intent.amount,
                                            "payment_intent": intent.stripe_intent_id, "charge": "ch_1",
                                            "reason": "fraudulent", "status": "needs_response"})


def credits(intent):
    return LedgerEntry.objects.filter(reference_id=str(intent.pk), type="credit")


def debits(intent):
    return LedgerEntry.objects.filter(reference_id=str(intent.pk), type="debit")


def nothing_written():
    return not ProcessedWebhook.objects.exists() and not LedgerEntry.objects.exclude(
        description="opening balance").exists()


def test_a_succeeded_event_credits_once_and_confirms(make_account, post_webhook):
    account = make_account()
    intent = stripe_intent(account, amount=2500)
    response = post_webhook(succeeded(intent))
    assert response.status_code == 200 and response.json()["outcome"] == "applied"
    intent.refresh_from_db()
    account.refresh_from_db()
    assert intent.status == "confirmed" and intent.confirmed_at is not None
    assert account.balance == 2500 and credits(intent).count() == 1 and intent.credit_entry == credits(intent).get()
    row = ProcessedWebhook.objects.get()
    assert row.success and row.event_type == "payment_intent.succeeded" and row.processed_at is not None


def test_the_client_secret_in_an_event_is_not_kept(make_account, post_webhook):
    intent = stripe_intent(make_account())
    post_webhook(succeeded(intent))
    assert "pi_x_secret_y" not in json.dumps(ProcessedWebhook.objects.get().payload)


@pytest.mark.parametrize("signature", [
    "t=1,v1=00",
    "garbage",
    "",
])
def test_a_bad_signature_is_400_and_nothing_is_written(make_account, post_webhook, signature):
    intent = stripe_intent(make_account())
    staged = StagedEvent.objects.count()
    response = post_webhook(succeeded(intent), signature=signature)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_signature"
    assert nothing_written() and StagedEvent.objects.count() == staged


def test_a_signature_made_with_another_secret_is_refused(make_account, post_webhook):
    intent = stripe_intent(make_account())
    body = json.dumps(succeeded(intent))
    response = post_webhook(body, signature=sign(body, secret="whsec_someone_else"))
    assert response.status_code == 400 and nothing_written()


def test_a_tampered_body_is_refused(make_account, post_webhook):
    intent = stripe_intent(make_account(), amount=100)
    body = json.dumps(succeeded(intent))
    response = post_webhook(body.replace('"amount": 100', '"amount": 999'), signature=sign(body))
    assert response.status_code == 400 and nothing_written()


def test_a_timestamp_301_seconds_old_is_refused(make_account, post_webhook):
    intent = stripe_intent(make_account())
    response = post_webhook(succeeded(intent), timestamp=int(time.time()) - 301)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_signature"
    assert nothing_written()


def test_a_timestamp_within_the_tolerance_is_accepted(make_account, post_webhook):
    intent = stripe_intent(make_account())
    assert post_webhook(succeeded(intent), timestamp=int(time.time()) - 290).status_code == 200


def test_without_a_webhook_secret_every_event_is_refused(make_account, post_webhook, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    intent = stripe_intent(make_account())
    assert post_webhook(succeeded(intent)).status_code == 400 and nothing_written()


@pytest.mark.parametrize("body", ["not json", json.dumps({"no": "event"}), json.dumps([1, 2])])
def test_a_signed_body_that_is_not_an_event_is_400(post_webhook, body):
    response = post_webhook(body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("invalid_event", "invalid_signature")
    assert nothing_written()


def test_an_unknown_event_type_is_recorded_and_answered_200(post_webhook):
    response = post_webhook(event("customer.created", {"id": "cus_1", "object": "customer"}, event_id="evt_unk"))
    assert response.status_code == 200 and response.json()["outcome"] == "ignored"
    row = ProcessedWebhook.objects.get(pk="evt_unk")
    assert row.success and row.outcome == "ignored"
    assert post_webhook(event("customer.created", {"id": "cus_1"}, event_id="evt_unk")).json()["outcome"] == \
        "duplicate"


def test_an_event_about_an_unknown_intent_is_recorded_and_ignored(post_webhook):
    response = post_webhook(event("payment_intent.succeeded", {"id": "pi_elsewhere", "amount": 5}))
    assert response.status_code == 200 and response.json()["outcome"] == "ignored"
    assert not LedgerEntry.objects.exists()


def test_a_handler_error_leaves_the_event_retryable(make_account, post_webhook, halt):
    account = make_account()
    intent = stripe_intent(account, amount=300)
    evt = succeeded(intent)
    halt("billing")
    response = post_webhook(evt)
    assert response.status_code == 423
    assert response.json()["error"]["code"] == "webhook_processing_failed"
    row = ProcessedWebhook.objects.get()
    assert not row.success and row.outcome == "failed" and row.attempts == 1 and "KillSwitchActive" in row.detail
    assert not credits(intent).exists()
    halt.lift("billing")
    again = post_webhook(evt)
    assert again.status_code == 200 and again.json()["outcome"] == "applied"
    row.refresh_from_db()
    assert row.success and row.attempts == 2
    assert credits(intent).count() == 1


def test_an_amount_the_intent_did_not_ask_for_is_not_credited(make_account, post_webhook):
    intent = stripe_intent(make_account(), amount=300)
    response = post_webhook(succeeded(intent, amount_received=30000))
    assert response.status_code == 409 and response.json()["error"]["cause"] == "amount_mismatch"
    assert not credits(intent).exists() and not ProcessedWebhook.objects.get().success


def test_a_failed_payment_marks_a_pending_intent_failed(make_account, post_webhook):
    intent = stripe_intent(make_account())
    post_webhook(failed(intent))
    intent.refresh_from_db()
    assert intent.status == "failed" and intent.failure_reason == "Your card was declined."


def test_a_success_after_a_failure_still_confirms(make_account, post_webhook):
    intent = stripe_intent(make_account())
    post_webhook(failed(intent))
    post_webhook(succeeded(intent))
    intent.refresh_from_db()
    assert intent.status == "confirmed" and credits(intent).count() == 1


def test_a_failure_after_a_success_changes_nothing(make_account, post_webhook):
    intent = stripe_intent(make_account())
    post_webhook(succeeded(intent))
    post_webhook(failed(intent))
    intent.refresh_from_db()
    assert intent.status == "confirmed"


def test_a_dispute_marks_disputed_and_debits_once(make_account, post_webhook):
    account = make_account()
    intent = stripe_intent(account, amount=800)
    post_webhook(succeeded(intent))
    evt = dispute(intent)
    post_webhook(evt)
    post_webhook(evt)
    intent.refresh_from_db()
    account.refresh_from_db()
    assert intent.status == "disputed" and intent.disputed_amount == 800 and intent.dispute_shortfall == 0
    assert debits(intent).count() == 1 and account.balance == 0


def test_a_dispute_arriving_before_the_success_still_credits_then_debits(make_account, post_webhook):
    account = make_account()
    intent = stripe_intent(account, amount=800)
    post_webhook(dispute(intent, amount=500))
    intent.refresh_from_db()
    assert intent.status == "disputed" and not debits(intent).exists()
    post_webhook(succeeded(intent))
    intent.refresh_from_db()
    account.refresh_from_db()
    assert intent.status == "disputed" and credits(intent).count() == 1 and debits(intent).get().amount == 500
    assert account.balance == 300


def test_a_dispute_never_takes_the_balance_below_zero(make_account, post_webhook):
    from billing.services.ledger import ledger_post

    account = make_account()
    intent = stripe_intent(account, amount=1000)
    post_webhook(succeeded(intent))
    ledger_post(account_id=account.pk, type="debit", amount=700)  # already spent
    post_webhook(dispute(intent))
    intent.refresh_from_db()
    account.refresh_from_db()
    assert debits(intent).get().amount == 300 and intent.dispute_shortfall == 700 and account.balance == 0
    assert ledger_check().ok


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_every_event_sent_three_times_in_any_order_has_one_effect(make_account, post_webhook, seed):
    account = make_account()
    paid, declined, disputed, late = (stripe_intent(account, amount=a) for a in (1000, 2000, 3000, 4000))
    subscription = subscription_create(account_id=account.pk, plan_id="pro", amount=990, interval="month")
    Subscription.objects.filter(pk=subscription.pk).update(stripe_subscription_id="sub_test_1",
                                                           provider=Provider.STRIPE)
    now = int(time.time())
    events = [
        succeeded(paid),
        failed(declined),
        succeeded(disputed), dispute(disputed, amount=1200, dispute_id="dp_a"),
        failed(late), succeeded(late),
        event("customer.subscription.updated", {"id": "sub_test_1", "object": "subscription",
                                                "status": "past_due"}, created=now - 30),
        event("invoice.payment_failed", {"id": "in_1", "object": "invoice", "subscription": "sub_test_1"},
              created=now - 20),
        event("invoice.paid", {"id": "in_2", "object": "invoice", "subscription": "sub_test_1"}, created=now - 10),
        event("customer.created", {"id": "cus_9", "object": "customer"}),
    ]
    deliveries = events * 3
    random.Random(seed).shuffle(deliveries)
    for evt in deliveries:
        assert post_webhook(evt).status_code == 200

    assert ProcessedWebhook.objects.count() == len(events) and ProcessedWebhook.objects.filter(success=True).count() \
        == len(events)
    for intent, status in ((paid, "confirmed"), (declined, "failed"), (disputed, "disputed"), (late, "confirmed")):
        intent.refresh_from_db()
        assert intent.status == status, intent
    assert [credits(i).count() for i in (paid, declined, disputed, late)] == [1, 0, 1, 1]
    assert debits(disputed).get().amount == 1200 and not debits(paid).exists()
    account.refresh_from_db()
    assert account.balance == 1000 + 3000 - 1200 + 4000
    subscription.refresh_from_db()
    assert subscription.status == "active"  # the newest event (invoice.paid) wins whatever the order
    assert ledger_check().ok


def test_subscription_events_move_status_and_canceled_is_final(make_account, post_webhook):
    account = make_account()
    subscription = subscription_create(account_id=account.pk, plan_id="pro", amount=990, interval="year")
    Subscription.objects.filter(pk=subscription.pk).update(stripe_subscription_id="sub_x", provider=Provider.STRIPE)
    now = int(time.time())
    post_webhook(event("invoice.payment_failed", {"id": "in_1", "subscription": "sub_x"}, created=now - 50))
    subscription.refresh_from_db()
    assert subscription.status == "past_due"
    post_webhook(event("customer.subscription.deleted", {"id": "sub_x", "status": "canceled"}, created=now - 40))
    post_webhook(event("invoice.paid", {"id": "in_2", "parent": {"subscription_details": {"subscription": "sub_x"}}},
                       created=now))
    subscription.refresh_from_db()
    assert subscription.status == "canceled" and subscription.canceled_at is not None


def test_the_local_provider_confirms_through_the_webhook_path(make_account):
    account = make_account()
    intent, _secret = payment_intent_create(account_id=account.pk, amount=4200, currency="BRL")
    assert intent.provider == "local" and intent.stripe_intent_id.startswith("pi_local_")
    row = payment_intent_local_succeed(intent=intent)
    assert row.event_id.startswith("evt_local_") and row.success and row.provider == "local"
    intent.refresh_from_db()
    account.refresh_from_db()
    assert intent.status == "confirmed" and account.balance == 4200
    with pytest.raises(ServiceError) as caught:
        payment_intent_local_succeed(intent=intent)
    assert caught.value.status == 409
    assert credits(intent).count() == 1
