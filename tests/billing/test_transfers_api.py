"""POST /api/v1/billing/transfers: a tenant moves its own funds between accounts of persons proven to its app."""
import random
import uuid

import pytest
from django.core.management import call_command
from django.db.models import Sum

from audit.models import StagedEvent
from billing.models import BillingAccount, IdempotencyKey, LedgerEntry, TenantFunds
from billing.services.ledger import ledger_post
from billing.tenancy import tenant_funds
from tests.billing.helpers import in_threads

pytestmark = [pytest.mark.django_db]

TRANSFERS = "/api/v1/billing/transfers"


def transfer(client, *items, key=None):
    """POST a batch of (source, target, amount) transfers; a fresh Idempotency-Key unless one is given."""
    body = {"transfers": [{"from_account_id": str(s.pk), "to_account_id": str(t.pk), "amount": amount}
                          for s, t, amount in items]}
    return client.post(TRANSFERS, body, format="json", HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()))


def balances(*accounts):
    return [BillingAccount.objects.get(pk=a.pk).balance for a in accounts]


def written():
    return LedgerEntry.objects.count(), StagedEvent.objects.count(), TenantFunds.objects.aggregate(s=Sum("balance"))


def test_a_transfer_answers_its_entries_and_the_tenants_balances_after(billing_app):
    tenant = billing_app()
    a, b = tenant.account(balance=1_000), tenant.account(balance=50)
    response = transfer(tenant.client, (a, b, 300))
    assert response.status_code == 201, response.content
    body = response.json()
    [applied] = body["transfers"]
    debit, credit = applied["debit"], applied["credit"]
    assert (debit["account_id"], debit["type"], debit["amount"], debit["balance_after"]) == (str(a.pk), "debit",
                                                                                             300, 700)
    assert (credit["account_id"], credit["type"], credit["amount"], credit["balance_after"]) == (str(b.pk), "credit",
                                                                                                 300, 350)
    assert debit["reference_id"] == credit["reference_id"] and debit["reference_id"].startswith("transfer:")
    assert body["balances"] == [{"account_id": str(a.pk), "balance": 700}, {"account_id": str(b.pk), "balance": 350}]
    assert balances(a, b) == [700, 350]
    assert tenant_funds(account_id=a.pk, tenant_id=tenant.owner.pk) == 700
    assert tenant_funds(account_id=b.pk, tenant_id=tenant.owner.pk) == 350
    # The tenant's ledger shows both entries as its own.
    assert [e["amount"] for e in tenant.client.get(f"/api/v1/billing/accounts/{b.pk}/ledger").json()["results"]] == [
        300, 50]


def test_a_batch_applies_in_order_on_the_running_balances(billing_app):
    tenant = billing_app()
    a, b, c = tenant.account(balance=100), tenant.account(), tenant.account()
    # b holds nothing until the first transfer credits it; the second spends that.
    response = transfer(tenant.client, (a, b, 100), (b, c, 60), (c, a, 10))
    assert response.status_code == 201, response.content
    body = response.json()
    assert [(t["debit"]["balance_after"], t["credit"]["balance_after"]) for t in body["transfers"]] == [
        (0, 100), (40, 60), (50, 10)]
    assert {row["account_id"]: row["balance"] for row in body["balances"]} == {
        str(a.pk): 10, str(b.pk): 40, str(c.pk): 50}
    assert balances(a, b, c) == [10, 40, 50]
    assert [e.sequence for e in LedgerEntry.objects.filter(account=a).order_by("sequence")] == [1, 2, 3]


def test_a_batch_with_one_refused_transfer_writes_nothing_and_names_it(billing_app):
    tenant = billing_app()
    a, b = tenant.account(balance=100), tenant.account(balance=5)
    before = written()
    response = transfer(tenant.client, (a, b, 60), (b, a, 10), (a, b, 51))
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "insufficient_funds" and error["transfer"] == 2
    assert error["available"] == 50 and error["amount"] == 51  # what the batch left the tenant before it
    assert written() == before and balances(a, b) == [100, 5]


@pytest.mark.parametrize(("code", "status"), [("same_account", 400), ("currency_mismatch", 400),
                                              ("balance_limit_exceeded", 409)])
def test_each_refusal_is_named(billing_app, code, status):
    from billing.models import MAX_AMOUNT, MAX_BALANCE

    tenant = billing_app()
    a = tenant.account(balance=MAX_AMOUNT)
    if code == "same_account":
        target = a
    elif code == "currency_mismatch":
        from billing.services.accounts import account_open

        target, _ = account_open(user=tenant.user(), currency="USD")
    else:
        target = tenant.account()
        BillingAccount.objects.filter(pk=target.pk).update(balance=MAX_BALANCE)  # nothing more may come in
    before = written()
    response = transfer(tenant.client, (a, target, 1))
    assert response.status_code == status and response.json()["error"]["code"] == code
    assert written() == before


def test_the_tenant_moves_only_its_own_funds(billing_app):
    mine, theirs = billing_app(), billing_app()
    person = mine.user()
    account = mine.account(balance=100, user=person)
    ledger_post(account_id=account.pk, type="credit", amount=10_000, description="another tenant's money",
                tenant_id=theirs.owner.pk)
    target = mine.account()
    response = transfer(mine.client, (account, target, 101))
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "insufficient_funds" and error["available"] == 100 and "10100" not in str(error)
    ok = transfer(mine.client, (account, target, 100))
    assert ok.status_code == 201 and ok.json()["balances"][0] == {"account_id": str(account.pk), "balance": 0}
    assert tenant_funds(account_id=account.pk, tenant_id=theirs.owner.pk) == 10_000
    assert balances(account) == [10_000]


def test_an_account_not_proven_to_the_app_is_404_and_nothing_is_written(billing_app):
    mine, theirs = billing_app(), billing_app()
    a = mine.account(balance=1_000)
    stranger = theirs.account(balance=1_000)  # proven to another tenant's app only
    claimed_user = mine.claim()  # linked to my app, never proven
    from billing.services.accounts import account_open

    claimed, _ = account_open(user=claimed_user.user)
    b = mine.account()
    before = written()
    for items in ([(a, stranger, 1)], [(stranger, a, 1)], [(a, claimed, 1)], [(a, b, 1), (stranger, a, 1)]):
        response = transfer(mine.client, *items)
        assert response.status_code == 404, items
        assert response.json()["error"]["code"] == "account_not_found"
    unknown = BillingAccount(id=uuid.uuid4())
    assert transfer(mine.client, (a, unknown, 1)).status_code == 404
    assert written() == before
    assert balances(a, stranger) == [1_000, 1_000]


def test_the_same_key_and_body_replay_the_answer_without_moving_money_again(billing_app):
    tenant = billing_app()
    a, b = tenant.account(balance=1_000), tenant.account()
    first = transfer(tenant.client, (a, b, 300), key="move-1")
    again = transfer(tenant.client, (a, b, 300), key="move-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert balances(a, b) == [700, 300] and LedgerEntry.objects.filter(account=b).count() == 1


def test_the_same_key_with_another_body_is_409_and_moves_nothing(billing_app):
    tenant = billing_app()
    a, b = tenant.account(balance=1_000), tenant.account()
    transfer(tenant.client, (a, b, 300), key="move-1")
    response = transfer(tenant.client, (a, b, 301), key="move-1")
    assert response.status_code == 409 and response.json()["error"]["code"] == "idempotency_mismatch"
    assert balances(a, b) == [700, 300]


def test_a_transfer_needs_an_idempotency_key(billing_app):
    tenant = billing_app()
    a, b = tenant.account(balance=10), tenant.account()
    response = tenant.client.post(TRANSFERS, {"transfers": [{"from_account_id": str(a.pk),
                                                             "to_account_id": str(b.pk), "amount": 1}]},
                                  format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "idempotency_key_required"
    assert balances(a, b) == [10, 0]


@pytest.mark.parametrize("count", [0, 101])
def test_a_batch_holds_1_to_100_transfers(billing_app, count):
    tenant = billing_app()
    a, b = tenant.account(balance=1_000), tenant.account()
    response = transfer(tenant.client, *[(a, b, 1)] * count)
    assert response.status_code == 400 and "transfers" in response.json()["error"]["fields"]
    assert balances(a, b) == [1_000, 0]


def test_a_batch_of_100_is_applied(billing_app):
    tenant = billing_app()
    a, b = tenant.account(balance=1_000), tenant.account()
    response = transfer(tenant.client, *[(a, b, 1), (b, a, 1)] * 50)
    assert response.status_code == 201, response.content
    assert balances(a, b) == [1_000, 0] and LedgerEntry.objects.filter(account__in=[a, b]).count() == 201


@pytest.mark.parametrize("scope", ["billing", "all"])
def test_a_kill_switch_halts_transfers_with_423(billing_app, halt, scope):
    tenant = billing_app()
    a, b = tenant.account(balance=100), tenant.account()
    halt(scope)
    before = written()
    response = transfer(tenant.client, (a, b, 1), key="halted")
    assert response.status_code == 423 and response.json()["error"]["code"] == "kill_switch_active"
    assert written() == before and not IdempotencyKey.objects.filter(key="halted").exists()


def test_nothing_leaves_the_account_of_a_person_staff_suspended(billing_app):
    from identity.services.sessions import user_set_status

    tenant = billing_app()
    a, b = tenant.account(balance=100), tenant.account(balance=100)
    user_set_status(user=a.user, status="suspended", reason="checked by a test")
    response = transfer(tenant.client, (b, a, 10), (a, b, 10))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "user_inactive" and response.json()["error"]["transfer"] == 1
    assert balances(a, b) == [100, 100]
    assert transfer(tenant.client, (b, a, 10)).status_code == 201  # money may still come in


def test_the_openapi_schema_documents_the_endpoint(api_client):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/billing/transfers"]["post"]
    assert operation["operationId"] == "billing_transfer_create"
    assert {"201", "404", "409", "423"} <= set(operation["responses"])
    assert any(p["name"] == "Idempotency-Key" and p["required"] for p in operation["parameters"])


# --- PostgreSQL: evidence and concurrency ---------------------------------------------------------------------------

@pytest.mark.postgres
def test_verify_all_proves_every_transfer_entry_against_its_audit_event(billing_app):
    from console import integrity

    tenant = billing_app()
    a, b, c = tenant.account(balance=1_000), tenant.account(balance=10), tenant.account()
    assert transfer(tenant.client, (a, b, 300), (b, c, 310), (c, a, 5)).status_code == 201
    assert transfer(tenant.client, (a, c, 1)).status_code == 201
    report = integrity.run_all(store=False)
    assert report.ok, [(r.name, r.problems) for r in report.results if not r.ok]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_1000_concurrent_opposite_transfers_on_two_accounts_never_fail_a_client(billing_app, capsys):
    tenant = billing_app()
    a, b = tenant.account(balance=5_000), tenant.account(balance=5_000)
    threads, per_thread = 8, 125

    def worker(i):
        client, rng = tenant.new_client(), random.Random(i)
        statuses = []
        for n in range(per_thread):
            items = [(a, b, rng.randint(1, 900))] if rng.random() < 0.5 else [(b, a, rng.randint(1, 900))]
            if n % 5 == 0:  # some batches lock both accounts, whichever way their first transfer points
                items.append((items[0][1], items[0][0], rng.randint(1, 900)))
            response = transfer(client, *items, key=f"w{i}-{n}")
            statuses.append((response.status_code, response.json().get("error", {}).get("code")))
        return statuses

    outcomes = [outcome for result in in_threads(threads, worker) for outcome in result]
    assert len(outcomes) == threads * per_thread
    applied = sum(1 for status, _ in outcomes if status == 201)
    assert set(outcomes) - {(201, None)} <= {(409, "insufficient_funds")}, set(outcomes)
    assert applied > 500
    assert sum(balances(a, b)) == 10_000
    assert (tenant_funds(account_id=a.pk, tenant_id=tenant.owner.pk)
            + tenant_funds(account_id=b.pk, tenant_id=tenant.owner.pk)) == 10_000
    call_command("ledger_verify")
    assert "OK" in capsys.readouterr().out
