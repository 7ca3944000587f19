"""The billing API: accounts, ledger pages, payment intents, payouts and subscriptions, per tenant."""
import uuid

import pytest

from billing.models import BillingAccount, IdempotencyKey, LedgerEntry, PaymentIntent, Payout, Subscription
from billing.services.ledger import ledger_post

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]

ACCOUNTS = "/api/v1/billing/accounts"
INTENTS = "/api/v1/billing/payment-intents"
PAYOUTS = "/api/v1/billing/payouts"
SUBSCRIPTIONS = "/api/v1/billing/subscriptions"
PIX = {"type": "pix", "key": "+5511987654321"}


def post(client, url, body, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(url, body, format="json", **headers)


# --- accounts -----------------------------------------------------------------------------------------------------

def test_an_app_opens_a_tenant_users_account_once(billing_app):
    tenant = billing_app()
    user = tenant.user()
    first = post(tenant.client, ACCOUNTS, {"user_id": str(user.pk)})
    again = post(tenant.client, ACCOUNTS, {"user_id": str(user.pk)})
    assert first.status_code == 201 and again.status_code == 200
    assert first.json() == again.json()
    assert first.json()["balance"] == 0 and first.json()["currency"] == "BRL"
    assert BillingAccount.objects.filter(user=user).count() == 1


def test_an_account_is_opened_by_the_apps_external_user_id(billing_app):
    tenant = billing_app()
    user = tenant.user(external_user_id="customer-42")
    response = post(tenant.client, ACCOUNTS, {"external_user_id": "customer-42"})
    assert response.status_code == 201 and response.json()["user_id"] == str(user.pk)


def test_another_tenants_user_is_not_found(billing_app):
    mine, theirs = billing_app(), billing_app()
    stranger = theirs.user(external_user_id="x1")
    assert post(mine.client, ACCOUNTS, {"user_id": str(stranger.pk)}).status_code == 404
    assert post(mine.client, ACCOUNTS, {"external_user_id": "x1"}).status_code == 404
    assert not BillingAccount.objects.exists()


@pytest.mark.parametrize("body", [{}, {"user_id": str(uuid.uuid4()), "external_user_id": "a"}, {"user_id": "nope"}])
def test_account_open_needs_exactly_one_valid_user_reference(billing_app, body):
    response = post(billing_app().client, ACCOUNTS, body)
    assert response.status_code == 400 and response.json()["error"]["code"] == "validation_error"


def test_an_account_shows_its_balance_to_its_tenant_only(billing_app):
    mine, theirs = billing_app(), billing_app()
    account = mine.account(balance=1234)
    response = mine.client.get(f"{ACCOUNTS}/{account.pk}")
    assert response.status_code == 200 and response.json()["balance"] == 1234
    hidden = theirs.client.get(f"{ACCOUNTS}/{account.pk}")
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "account_not_found"
    assert mine.client.get(f"{ACCOUNTS}/{uuid.uuid4()}").status_code == 404


def test_the_ledger_is_paged_by_cursor_newest_first(billing_app):
    tenant = billing_app()
    account = tenant.account()
    for amount in range(1, 8):
        ledger_post(account_id=account.pk, type="credit", amount=amount, tenant_id=tenant.owner.pk)
    ledger_post(account_id=account.pk, type="credit", amount=1000, description="staff's, not the tenant's")
    url, seen = f"{ACCOUNTS}/{account.pk}/ledger?page_size=3", []
    while url:
        page = tenant.client.get(url).json()
        assert len(page["results"]) <= 3
        seen += [entry["amount"] for entry in page["results"]]
        url = page["next"]
    assert seen == [7, 6, 5, 4, 3, 2, 1]
    results = tenant.client.get(f"{ACCOUNTS}/{account.pk}/ledger?page_size=1").json()["results"]
    assert (results[0]["type"], results[0]["amount"], results[0]["balance_after"]) == ("credit", 7, 28)
    assert "sequence" not in results[0]
    assert billing_app().client.get(f"{ACCOUNTS}/{account.pk}/ledger").status_code == 404


def test_a_credential_without_the_billing_scope_is_refused(billing_app):
    tenant = billing_app(scopes=("identity",))
    response = tenant.client.get(f"{ACCOUNTS}/{uuid.uuid4()}")
    assert response.status_code == 403 and response.json()["error"]["code"] == "scope_required"


def test_without_credentials_the_api_answers_401(api_client):
    assert api_client.get(f"{ACCOUNTS}/{uuid.uuid4()}").status_code == 401


# --- payment intents (local provider) --------------------------------------------------------------------------

def test_a_payment_intent_is_pending_with_a_client_secret(billing_app):
    tenant = billing_app()
    account = tenant.account()
    response = post(tenant.client, INTENTS, {"account_id": str(account.pk), "amount": 5000, "currency": "BRL"},
                    key="order-1")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending" and body["amount"] == 5000 and body["provider"] == "local"
    assert body["provider_intent_id"].startswith("pi_local_")
    assert body["client_secret"].startswith(body["provider_intent_id"] + "_secret_")
    intent = PaymentIntent.objects.get()
    assert intent.idempotency_key == "order-1" and intent.app_id == tenant.app.pk
    assert not LedgerEntry.objects.filter(account=account, reference_id=str(intent.pk)).exists()


def test_the_client_secret_is_never_stored(billing_app):
    tenant = billing_app()
    account = tenant.account()
    secret = post(tenant.client, INTENTS, {"account_id": str(account.pk), "amount": 5000},
                  key="k").json()["client_secret"]
    stored = [str(v) for v in PaymentIntent.objects.values().get().values()]
    stored += [str(v) for v in IdempotencyKey.objects.values().get().values()]
    assert not any(secret in value for value in stored)


def test_money_posts_require_an_idempotency_key(billing_app):
    tenant = billing_app()
    account = tenant.account(balance=100)
    for url, body in ((INTENTS, {"account_id": str(account.pk), "amount": 5}),
                      (PAYOUTS, {"account_id": str(account.pk), "amount": 5, "destination": PIX}),
                      (SUBSCRIPTIONS, {"account_id": str(account.pk), "plan_id": "p", "amount": 5,
                                       "interval": "month"})):
        response = post(tenant.client, url, body)
        assert response.status_code == 400, url
        assert response.json()["error"]["code"] == "idempotency_key_required"
        assert "Idempotency-Key" in response.json()["error"]["fields"]
    assert not PaymentIntent.objects.exists() and not Payout.objects.exists() and not Subscription.objects.exists()


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "line\nbreak"])
def test_an_invalid_idempotency_key_is_refused(billing_app, key):
    tenant = billing_app()
    account = tenant.account()
    response = post(tenant.client, INTENTS, {"account_id": str(account.pk), "amount": 5}, key=key)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("idempotency_key_invalid", "idempotency_key_required")
    assert not PaymentIntent.objects.exists()


def test_a_key_of_255_characters_is_accepted(billing_app):
    tenant = billing_app()
    account = tenant.account()
    assert post(tenant.client, INTENTS, {"account_id": str(account.pk), "amount": 5}, key="k" * 255).status_code == 201


def test_the_same_key_and_body_replay_the_first_response(billing_app):
    tenant = billing_app()
    account = tenant.account()
    body = {"account_id": str(account.pk), "amount": 700, "currency": "BRL"}
    first = post(tenant.client, INTENTS, body, key="same")
    second = post(tenant.client, INTENTS, body, key="same")
    assert second.status_code == first.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert PaymentIntent.objects.count() == 1


def test_the_same_key_with_another_body_is_409(billing_app):
    tenant = billing_app()
    account = tenant.account()
    post(tenant.client, INTENTS, {"account_id": str(account.pk), "amount": 700}, key="same")
    response = post(tenant.client, INTENTS, {"account_id": str(account.pk), "amount": 701}, key="same")
    assert response.status_code == 409 and response.json()["error"]["code"] == "idempotency_mismatch"
    assert PaymentIntent.objects.count() == 1


def test_keys_belong_to_one_application(billing_app):
    one, two = billing_app(), billing_app()
    for tenant in (one, two):
        account = tenant.account()
        assert post(tenant.client, INTENTS, {"account_id": str(account.pk), "amount": 5}, key="shared").status_code \
            == 201
    assert PaymentIntent.objects.count() == 2


def test_a_refused_request_is_replayed_refused(billing_app):
    tenant = billing_app()
    account = tenant.account(balance=10)
    body = {"account_id": str(account.pk), "amount": 11, "destination": PIX}
    first = post(tenant.client, PAYOUTS, body, key="p1")
    assert first.status_code == 409 and first.json()["error"]["code"] == "insufficient_funds"
    ledger_post(account_id=account.pk, type="credit", amount=100)
    again = post(tenant.client, PAYOUTS, body, key="p1")
    assert (again.status_code, again.json()) == (409, first.json())
    assert not Payout.objects.exists()


def test_a_kill_switch_answers_423_writes_nothing_and_is_not_remembered(billing_app, halt):
    tenant = billing_app()
    account = tenant.account(balance=100)
    halt("billing")
    body = {"account_id": str(account.pk), "amount": 50}
    response = post(tenant.client, INTENTS, body, key="halted")
    assert response.status_code == 423 and response.json()["error"]["code"] == "kill_switch_active"
    payout = post(tenant.client, PAYOUTS, {**body, "destination": PIX}, key="halted-payout")
    assert payout.status_code == 423
    subscription = post(tenant.client, SUBSCRIPTIONS, {"account_id": str(account.pk), "plan_id": "pro", "amount": 5,
                                                       "interval": "month"}, key="halted-subscription")
    assert subscription.status_code == 423
    assert not PaymentIntent.objects.exists() and not Payout.objects.exists() and not IdempotencyKey.objects.exists()
    assert not Subscription.objects.exists()
    assert LedgerEntry.objects.filter(account=account).count() == 1
    halt.lift("billing")
    assert post(tenant.client, INTENTS, body, key="halted").status_code == 201


@pytest.mark.parametrize(("body", "code"), [
    ({"amount": 0}, "validation_error"),
    ({"amount": 10**12}, "validation_error"),
    ({"amount": "12"}, "validation_error"),  # amounts are JSON integers, as in ads and agents
    ({"currency": "USD"}, "currency_mismatch"),
    ({"currency": "reais"}, "validation_error"),
])
def test_payment_intent_input_is_validated(billing_app, body, code):
    tenant = billing_app()
    account = tenant.account()
    response = post(tenant.client, INTENTS, {"account_id": str(account.pk), "amount": 5, **body}, key=str(body))
    if code is None:  # DRF's integer field accepts numeric strings: still exact cents
        assert response.status_code == 201 and response.json()["amount"] == 12
        return
    assert response.status_code == 400 and response.json()["error"]["code"] == code


def test_a_payment_intent_for_another_tenants_account_is_404(billing_app):
    mine, theirs = billing_app(), billing_app()
    account = theirs.account()
    response = post(mine.client, INTENTS, {"account_id": str(account.pk), "amount": 5}, key="x")
    assert response.status_code == 404 and not PaymentIntent.objects.exists()


def test_a_payment_intent_is_read_back_by_its_tenant(billing_app):
    tenant = billing_app()
    account = tenant.account()
    created = post(tenant.client, INTENTS, {"account_id": str(account.pk), "amount": 5}, key="x").json()
    read = tenant.client.get(f"{INTENTS}/{created['id']}").json()
    assert read["status"] == "pending" and read["client_secret"] is None
    assert billing_app().client.get(f"{INTENTS}/{created['id']}").status_code == 404


# --- payouts ----------------------------------------------------------------------------------------------------

def test_a_payout_holds_its_amount(billing_app, run_jobs):
    tenant = billing_app()
    account = tenant.account(balance=1000)
    response = post(tenant.client, PAYOUTS, {"account_id": str(account.pk), "amount": 300, "destination": PIX},
                    key="po-1")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["approval"], body["destination_type"]) == ("pending", "not_required", "pix")
    assert body["destination"].endswith("4321") and "98765" not in body["destination"]
    account.refresh_from_db()
    assert account.balance == 700
    run_jobs("payout_send")
    assert tenant.client.get(f"{PAYOUTS}/{body['id']}").json()["status"] == "sent"


def test_an_invalid_payout_destination_is_400(billing_app):
    tenant = billing_app()
    account = tenant.account(balance=1000)
    response = post(tenant.client, PAYOUTS, {"account_id": str(account.pk), "amount": 3,
                                             "destination": {"type": "pix", "key": "123.456.789-00"}}, key="bad")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_destination"
    assert "destination.key" in response.json()["error"]["fields"]
    account.refresh_from_db()
    assert account.balance == 1000


# --- subscriptions (local provider) -------------------------------------------------------------------------------

def test_subscriptions_are_created_listed_and_canceled(billing_app):
    tenant = billing_app()
    account = tenant.account()
    created = post(tenant.client, SUBSCRIPTIONS, {"account_id": str(account.pk), "plan_id": "pro", "amount": 2990,
                                                  "interval": "month"}, key="sub-1")
    assert created.status_code == 201, created.content
    sub = created.json()
    assert (sub["status"], sub["interval"], sub["app_id"]) == ("active", "month", str(tenant.app.pk))
    listed = tenant.client.get(f"{SUBSCRIPTIONS}?account_id={account.pk}").json()
    assert [s["id"] for s in listed["results"]] == [sub["id"]]
    canceled = tenant.client.post(f"{SUBSCRIPTIONS}/{sub['id']}/cancel")
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert tenant.client.post(f"{SUBSCRIPTIONS}/{sub['id']}/cancel").json()["status"] == "canceled"
    other = billing_app()
    assert other.client.get(f"{SUBSCRIPTIONS}/{sub['id']}").status_code == 404
    assert other.client.post(f"{SUBSCRIPTIONS}/{sub['id']}/cancel").status_code == 404
    assert other.client.get(f"{SUBSCRIPTIONS}?account_id={account.pk}").status_code == 404


def test_subscription_input_is_validated(billing_app):
    tenant = billing_app()
    account = tenant.account()
    response = post(tenant.client, SUBSCRIPTIONS, {"account_id": str(account.pk), "plan_id": "pro", "amount": 5,
                                                   "interval": "week"}, key="s")
    assert response.status_code == 400 and "interval" in response.json()["error"]["fields"]
    assert tenant.client.get(SUBSCRIPTIONS).status_code == 400
