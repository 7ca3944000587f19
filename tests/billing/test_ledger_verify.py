"""``manage.py ledger_verify``: exit 0 on a sound ledger, 1 naming the first bad account otherwise."""
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from audit.operations import install_sql, remove_sql
from billing.models import BillingAccount
from billing.services.ledger import ledger_post
from billing.verification import ledger_check

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def tamper(sql, params=()):
    """Change an append-only table behind the triggers' back, the way an attacker with database access would."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute(sql, params)
        else:
            for statement in remove_sql("sqlite", "ledger_entries"):
                cursor.execute(statement)
            cursor.execute(sql, params)
            for statement in install_sql("sqlite", "ledger_entries"):
                cursor.execute(statement)


def _ledger(make_account, accounts=3):
    made = []
    for i in range(accounts):
        account = make_account(balance=1000 + i)
        ledger_post(account_id=account.pk, type="debit", amount=250)
        ledger_post(account_id=account.pk, type="credit", amount=40)
        made.append(account)
    return made


def test_a_sound_ledger_passes(make_account, capsys):
    _ledger(make_account)
    call_command("ledger_verify", "--progress-every", "1")
    captured = capsys.readouterr()
    assert "OK - 3 accounts, 9 entries" in captured.out
    assert "1 accounts, 3 entries checked" in captured.err  # progress


def test_an_empty_ledger_passes(db, capsys):
    call_command("ledger_verify")
    assert "OK - 0 accounts" in capsys.readouterr().out


def test_a_balance_that_disagrees_with_the_ledger_is_named(make_account, capsys):
    accounts = _ledger(make_account)
    BillingAccount.objects.filter(pk=accounts[1].pk).update(balance=777)
    with pytest.raises(CommandError) as caught:
        call_command("ledger_verify")
    assert caught.value.returncode == 1
    assert str(accounts[1].pk) in str(caught.value)
    assert "balance 777 but credits - debits = 791" in capsys.readouterr().out


def test_an_altered_amount_breaks_the_running_sum(make_account):
    accounts = _ledger(make_account)
    tamper("UPDATE ledger_entries SET amount = 260 WHERE account_id = %s AND sequence = 2",
           [accounts[0].pk.hex if connection.vendor == "sqlite" else accounts[0].pk])
    report = ledger_check()
    assert [p.account_id for p in report.problems][:1] == [str(accounts[0].pk)]
    assert any("running sum" in p.detail for p in report.problems)


def test_a_deleted_entry_leaves_a_gap(make_account):
    accounts = _ledger(make_account)
    tamper("DELETE FROM ledger_entries WHERE account_id = %s AND sequence = 2",
           [accounts[2].pk.hex if connection.vendor == "sqlite" else accounts[2].pk])
    report = ledger_check()
    assert {p.account_id for p in report.problems} == {str(accounts[2].pk)}
    messages = " | ".join(p.detail for p in report.problems)
    assert "entry sequence 3 where 2 was expected" in messages
    assert "last_sequence 3 but 2 entries" in messages and "balance 792 but credits - debits = 1042" in messages


def test_all_reports_every_bad_account(make_account, capsys):
    accounts = _ledger(make_account)
    for account in accounts[:2]:
        BillingAccount.objects.filter(pk=account.pk).update(balance=1)
    with pytest.raises(CommandError):
        call_command("ledger_verify", "--all")
    out = capsys.readouterr().out
    assert all(str(a.pk) in out for a in accounts[:2]) and str(accounts[2].pk) not in out
