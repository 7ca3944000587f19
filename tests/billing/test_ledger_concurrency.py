"""Many real connections posting at once: no overdraft, no lost update, no deadlock."""
import random

import pytest
from django.core.management import call_command

from billing.models import BillingAccount, LedgerEntry
from billing.services.accounts import account_open
from billing.services.ledger import ledger_post, ledger_transfer
from core.errors import ServiceError
from tests.billing.helpers import in_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 8
OPERATIONS = 1000


def _user(name):
    from identity.models import User

    return User.objects.create_user(username=name)


def test_1000_concurrent_random_postings_on_one_account_never_overdraw(capsys):
    account, _ = account_open(user=_user("hot"))

    def worker(i):
        rng = random.Random(1000 + i)
        credited = debited = refused = 0
        for _ in range(OPERATIONS // THREADS):
            if rng.random() < 0.5:
                amount = rng.randint(1, 500)
                ledger_post(account_id=account.pk, type="credit", amount=amount)
                credited += amount
            else:
                amount = rng.randint(1, 700)
                try:
                    ledger_post(account_id=account.pk, type="debit", amount=amount)
                    debited += amount
                except ServiceError as exc:
                    assert exc.code == "insufficient_funds"
                    refused += 1
        return credited, debited, refused

    results = in_threads(THREADS, worker)
    credited = sum(r[0] for r in results)
    debited = sum(r[1] for r in results)
    refused = sum(r[2] for r in results)

    account.refresh_from_db()
    entries = LedgerEntry.objects.filter(account=account)
    assert refused > 0, "the mix must attempt overdrafts for this test to mean anything"
    assert entries.count() == OPERATIONS - refused
    assert account.balance == credited - debited >= 0
    assert not entries.filter(balance_after__lt=0).exists()
    assert sorted(entries.values_list("sequence", flat=True)) == list(range(1, OPERATIONS - refused + 1))
    call_command("ledger_verify")  # raises CommandError (exit 1) on any broken invariant
    assert "OK" in capsys.readouterr().out


def test_opposite_transfers_between_two_accounts_do_not_deadlock():
    a, _ = account_open(user=_user("a"))
    b, _ = account_open(user=_user("b"))
    ledger_post(account_id=a.pk, type="credit", amount=10_000)
    ledger_post(account_id=b.pk, type="credit", amount=10_000)

    def worker(i):
        rng = random.Random(i)
        moved = 0
        for _ in range(40):
            source, target = (a, b) if rng.random() < 0.5 else (b, a)
            try:
                ledger_transfer(from_account_id=source.pk, to_account_id=target.pk, amount=rng.randint(1, 900))
                moved += 1
            except ServiceError as exc:
                assert exc.code == "insufficient_funds"
        return moved

    moved = sum(in_threads(THREADS, worker))
    balances = dict(BillingAccount.objects.values_list("pk", "balance"))
    assert balances[a.pk] + balances[b.pk] == 20_000
    assert LedgerEntry.objects.count() == 2 + 2 * moved
    call_command("ledger_verify")


def test_tenants_posting_on_one_account_at_once_never_move_each_others_money(capsys):
    """Three tenants credit and debit one person's account on eight connections at once (credits on the one-statement
    path, debits on the locking path): no tenant's funds ever go below zero, each tenant's funds are exactly its own
    entries' sum, and money that no tenant brought in (staff's) is never taken by one."""
    from billing.models import TenantFunds

    account, _ = account_open(user=_user("shared-person"))
    tenants = [_user(f"tenant-{n}") for n in range(3)]
    ledger_post(account_id=account.pk, type="credit", amount=50_000, description="staff's own credit")

    def worker(i):
        rng = random.Random(7000 + i)
        tenant = tenants[i % len(tenants)]
        moved = {"credited": 0, "debited": 0, "refused": 0}
        for _ in range(60):
            if rng.random() < 0.45:
                amount = rng.randint(1, 400)
                ledger_post(account_id=account.pk, type="credit", amount=amount, tenant_id=tenant.pk)
                moved["credited"] += amount
            else:
                amount = rng.randint(1, 600)
                try:
                    ledger_post(account_id=account.pk, type="debit", amount=amount, tenant_id=tenant.pk)
                    moved["debited"] += amount
                except ServiceError as exc:
                    assert exc.code == "insufficient_funds"
                    moved["refused"] += 1
        return tenant.pk, moved

    results = in_threads(THREADS, worker)
    assert sum(m["refused"] for _t, m in results) > 0, "the mix must try to take more than a tenant's funds"
    funds = dict(TenantFunds.objects.filter(account=account).values_list("tenant_id", "balance"))
    for tenant in tenants:
        mine = [m for t, m in results if t == tenant.pk]
        assert funds[tenant.pk] == sum(m["credited"] - m["debited"] for m in mine) >= 0
    account.refresh_from_db()
    assert account.balance == 50_000 + sum(funds.values())  # staff's 50,000 is still there, untouched
    assert not LedgerEntry.objects.filter(tenant_balance_after__lt=0).exists()
    call_command("ledger_verify")
    assert "OK" in capsys.readouterr().out
