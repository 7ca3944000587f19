"""ledger_transfers: batches of transfers, all or none, optionally a tenant's (its funds follow the money).

These run on PostgreSQL (one statement calling ledger_transfer_apply) and on SQLite (the locking path): the same
answers on both.
"""
import random
import uuid

import pytest
from django.core.management import call_command

from audit.chain import format_time
from audit.models import AuditEvent, StagedEvent
from audit.services import audit_sequence
from billing.models import MAX_BALANCE, BillingAccount, LedgerEntry
from billing.services.accounts import account_open
from billing.services.ledger import MAX_TRANSFERS, Transfer, ledger_post, ledger_transfer, ledger_transfers
from billing.tenancy import tenant_funds
from billing.verification import ledger_check
from core.errors import ServiceError
from tests.billing.helpers import in_threads

pytestmark = [pytest.mark.django_db]


def balance(account) -> int:
    return BillingAccount.objects.get(pk=account.pk).balance


def refusal(call) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        call()
    return caught.value


def test_a_batch_is_applied_in_order_on_the_running_balances(make_account):
    a, b, c = make_account(balance=100), make_account(), make_account()
    applied = ledger_transfers([Transfer(a.pk, b.pk, 100), Transfer(b.pk, c.pk, 70), Transfer(c.pk, a.pk, 20)])
    assert [(debit.balance_after, credit.balance_after) for debit, credit in applied] == [(0, 100), (30, 70),
                                                                                       (50, 20)]
    assert [(debit.sequence, credit.sequence) for debit, credit in applied] == [(2, 1), (2, 1), (2, 3)]
    assert (balance(a), balance(b), balance(c)) == (20, 30, 50)
    assert all(d.reference_id == c.reference_id and d.reference_id.startswith("transfer:") for d, c in applied)
    assert len({d.reference_id for d, _ in applied}) == 3
    report = ledger_check()
    assert report.ok, report.problems


def test_a_refused_transfer_refuses_the_whole_batch_and_names_it(make_account):
    a, b = make_account(balance=100), make_account()
    entries, staged = LedgerEntry.objects.count(), StagedEvent.objects.count()
    error = refusal(lambda: ledger_transfers([Transfer(a.pk, b.pk, 60), Transfer(a.pk, b.pk, 41)]))
    assert error.code == "insufficient_funds" and error.extra == {"balance": 40, "amount": 41, "transfer": 1}
    assert (balance(a), balance(b)) == (100, 0)
    assert LedgerEntry.objects.count() == entries and StagedEvent.objects.count() == staged


def test_every_refusal_is_named_with_its_transfer(make_account):
    a, b = make_account(balance=10), make_account()
    usd = make_account(currency="USD")
    full = make_account()
    BillingAccount.objects.filter(pk=full.pk).update(balance=MAX_BALANCE)
    missing = uuid.uuid4()
    cases = [
        ([Transfer(a.pk, b.pk, 1), Transfer(a.pk, missing, 1)], "account_not_found", 1),
        ([Transfer(a.pk, b.pk, 1), Transfer(a.pk, usd.pk, 1)], "currency_mismatch", 1),
        ([Transfer(a.pk, full.pk, 1)], "balance_limit_exceeded", 0),
        ([Transfer(a.pk, b.pk, 1), Transfer(b.pk, b.pk, 1)], "same_account", 1),
        ([Transfer(a.pk, b.pk, 0)], "invalid_amount", 0),
        ([Transfer(a.pk, "not an id", 1)], "account_not_found", 0),
    ]
    for transfers, code, index in cases:
        error = refusal(lambda transfers=transfers: ledger_transfers(transfers))
        assert (error.code, error.extra.get("transfer")) == (code, index), transfers
    assert (balance(a), balance(b), balance(usd)) == (10, 0, 0)
    assert not LedgerEntry.objects.filter(account__in=[b, usd, full]).exists()


@pytest.mark.parametrize("count", [0, MAX_TRANSFERS + 1])
def test_a_batch_holds_1_to_100_transfers(make_account, count):
    a, b = make_account(balance=1_000), make_account()
    error = refusal(lambda: ledger_transfers([Transfer(a.pk, b.pk, 1)] * count))
    assert error.code == "validation_error" and "transfers" in error.fields


def test_a_tenants_transfer_moves_its_funds_with_the_money(make_account, make_user):
    tenant = make_user()
    a, b = make_account(balance=500, tenant_id=tenant.pk), make_account()
    debit, credit = ledger_transfer(from_account_id=a.pk, to_account_id=b.pk, amount=200, tenant_id=tenant.pk)
    assert (debit.tenant_id, debit.tenant_balance_after) == (tenant.pk, 300)
    assert (credit.tenant_id, credit.tenant_balance_after) == (tenant.pk, 200)
    assert tenant_funds(account_id=a.pk, tenant_id=tenant.pk) == 300
    assert tenant_funds(account_id=b.pk, tenant_id=tenant.pk) == 200
    report = ledger_check()
    assert report.ok, report.problems


def test_a_tenant_moves_no_other_tenants_money(make_account, make_user):
    mine, theirs = make_user(), make_user()
    a, b = make_account(balance=100, tenant_id=mine.pk), make_account()
    ledger_post(account_id=a.pk, type="credit", amount=5_000, tenant_id=theirs.pk)
    ledger_post(account_id=a.pk, type="credit", amount=5_000)  # staff's money, no tenant's
    error = refusal(lambda: ledger_transfer(from_account_id=a.pk, to_account_id=b.pk, amount=101, tenant_id=mine.pk))
    assert error.code == "insufficient_funds"
    assert error.extra == {"available": 100, "amount": 101, "transfer": 0}  # never the account's whole balance
    ledger_transfer(from_account_id=a.pk, to_account_id=b.pk, amount=100, tenant_id=mine.pk)
    assert tenant_funds(account_id=a.pk, tenant_id=theirs.pk) == 5_000
    assert balance(a) == 10_000


def test_funds_credited_earlier_in_a_batch_may_move_on_later_in_it(make_account, make_user):
    tenant = make_user()
    a, b, c = make_account(balance=50, tenant_id=tenant.pk), make_account(), make_account()
    ledger_post(account_id=b.pk, type="credit", amount=1_000)  # staff's: not the tenant's to move
    applied = ledger_transfers([Transfer(a.pk, b.pk, 50), Transfer(b.pk, c.pk, 50)], tenant_id=tenant.pk)
    assert [e.tenant_balance_after for pair in applied for e in pair] == [0, 50, 0, 50]
    error = refusal(lambda: ledger_transfers([Transfer(c.pk, b.pk, 50), Transfer(b.pk, a.pk, 51)],
                                             tenant_id=tenant.pk))
    assert (error.code, error.extra["available"], error.extra["transfer"]) == ("insufficient_funds", 50, 1)
    assert (balance(a), balance(b), balance(c)) == (0, 1_000, 50)


def test_each_entry_has_its_audit_event_as_the_locking_path_writes_it(make_account, make_user):
    tenant = make_user()
    a, b = make_account(balance=300, tenant_id=tenant.pk), make_account()
    applied = ledger_transfers([Transfer(a.pk, b.pk, 100, "rent", "order-7"), Transfer(b.pk, a.pk, 40)],
                               tenant_id=tenant.pk)
    audit_sequence()
    for entry in (e for pair in applied for e in pair):
        event = AuditEvent.objects.get(type="LEDGER_ENTRY_POSTED", target_id=entry.pk)
        signed = entry.amount if entry.type == "credit" else -entry.amount
        assert event.action == entry.type
        assert (event.before, event.after) == ({"balance": entry.balance_after - signed},
                                               {"balance": entry.balance_after})
        stored = LedgerEntry.objects.get(pk=entry.pk)
        assert event.metadata == {
            "account_id": str(entry.account_id), "amount": entry.amount, "sequence": stored.sequence,
            "reference_id": stored.reference_id, "corrects": None, "tenant_id": str(tenant.pk),
            "description": stored.description,
            "created_at": format_time(stored.created_at)}
    assert applied[0][0].description == "rent" and applied[0][1].reference_id == "order-7"


@pytest.mark.parametrize("scope", ["billing", "all"])
def test_a_kill_switch_refuses_a_batch(make_account, halt, scope):
    a, b = make_account(balance=10), make_account()
    halt(scope)
    error = refusal(lambda: ledger_transfers([Transfer(a.pk, b.pk, 1)]))
    assert error.status == 423 and (balance(a), balance(b)) == (10, 0)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_in_every_direction_never_deadlock(capsys):
    from identity.models import User

    tenant = User.objects.create_user(username="tenant")
    accounts = []
    for n in range(4):
        account, _ = account_open(user=User.objects.create_user(username=f"holder-{n}"))
        ledger_post(account_id=account.pk, type="credit", amount=10_000, tenant_id=tenant.pk)
        accounts.append(account.pk)

    def worker(i):
        rng = random.Random(i)
        applied = 0
        for _ in range(40):
            batch = []
            for _ in range(rng.randint(1, 4)):
                source, target = rng.sample(accounts, 2)
                batch.append(Transfer(source, target, rng.randint(1, 3_000)))
            try:
                ledger_transfers(batch, tenant_id=tenant.pk)
                applied += 1
            except ServiceError as exc:
                assert exc.code == "insufficient_funds"
        return applied

    assert sum(in_threads(8, worker)) > 100
    assert sum(BillingAccount.objects.filter(pk__in=accounts).values_list("balance", flat=True)) == 40_000
    assert sum(tenant_funds(account_id=pk, tenant_id=tenant.pk) for pk in accounts) == 40_000
    call_command("ledger_verify")
    assert "OK" in capsys.readouterr().out


@pytest.mark.postgres
def test_on_postgresql_a_transfer_and_a_tenants_debit_are_one_statement_each(make_account, make_user,
                                                                              django_assert_num_queries):
    tenant = make_user()
    a, b = make_account(balance=500, tenant_id=tenant.pk), make_account()
    with django_assert_num_queries(1):
        ledger_transfers([Transfer(a.pk, b.pk, 10), Transfer(b.pk, a.pk, 5)], tenant_id=tenant.pk)
    with django_assert_num_queries(1):
        ledger_post(account_id=a.pk, type="debit", amount=5, tenant_id=tenant.pk)
    assert (balance(a), balance(b)) == (490, 5)
