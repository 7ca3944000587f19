"""PostgreSQL's own guards on the ledger, whatever code runs against it."""
import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError, IntegrityError

from billing.models import LedgerEntry
from billing.services.ledger import ledger_post

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_truncate_is_refused(make_account):
    ledger_post(account_id=make_account().pk, type="credit", amount=1)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # run the insert's deferred foreign key checks now
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE ledger_entries CASCADE")
    assert LedgerEntry.objects.count() == 1


def test_two_entries_cannot_share_a_sequence_number(make_account):
    entry = ledger_post(account_id=make_account().pk, type="credit", amount=1)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_entries (entry_id, account_id, type, amount, description, reference_id, "
            "balance_after, sequence, created_at) VALUES (gen_random_uuid(), %s, 'credit', 1, '', '', 2, 1, now())",
            [entry.account_id])


@pytest.mark.parametrize(("column", "value"), [("amount", 0), ("amount", -5), ("balance_after", -1),
                                               ("type", "'refund'")])
def test_the_database_checks_amounts_balances_and_types(make_account, column, value):
    account = make_account()
    values = {"amount": 1, "balance_after": 1, "type": "'credit'"} | {column: value}
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_entries (entry_id, account_id, type, amount, description, reference_id, "
            f"balance_after, sequence, created_at) VALUES (gen_random_uuid(), %s, {values['type']}, "
            f"{values['amount']}, '', '', {values['balance_after']}, 1, now())", [account.pk])
