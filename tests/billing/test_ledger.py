"""The posting service: one entry per change, never below zero, kill switches, corrections, transfers."""
import uuid

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from audit import context as audit_context
from audit.chain import format_time
from audit.immutable import AppendOnlyViolation
from audit.models import AuditEvent, StagedEvent
from audit.services import audit_event_values, audit_sequence
from audit.verification import chain_verify
from billing.models import MAX_AMOUNT, MAX_BALANCE, BillingAccount, LedgerEntry
from billing.services.ledger import ledger_adjust, ledger_post, ledger_transfer
from billing.verification import ledger_check
from core.errors import ServiceError

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def test_a_credit_writes_one_entry_and_raises_the_balance(make_account):
    account = make_account()
    entry = ledger_post(account_id=account.pk, type="credit", amount=1500, description="top-up", reference_id="r1")
    account.refresh_from_db()
    assert account.balance == 1500 and account.last_sequence == 1
    assert list(LedgerEntry.objects.filter(account=account)) == [entry]
    assert (entry.type, entry.amount, entry.balance_after, entry.sequence, entry.reference_id) == (
        "credit", 1500, 1500, 1, "r1")


def test_a_debit_lowers_the_balance_and_records_the_running_sum(make_account):
    account = make_account(balance=1000)
    entry = ledger_post(account_id=account.pk, type="debit", amount=400)
    account.refresh_from_db()
    assert account.balance == 600 and entry.balance_after == 600 and entry.sequence == 2


def test_a_debit_below_zero_is_refused_and_writes_nothing(make_account):
    account = make_account(balance=100)
    with pytest.raises(ServiceError) as caught:
        ledger_post(account_id=account.pk, type="debit", amount=101)
    assert caught.value.code == "insufficient_funds" and caught.value.status == 409
    account.refresh_from_db()
    assert account.balance == 100 and LedgerEntry.objects.filter(account=account).count() == 1


def test_a_debit_of_the_whole_balance_leaves_zero(make_account):
    account = make_account(balance=100)
    ledger_post(account_id=account.pk, type="debit", amount=100)
    account.refresh_from_db()
    assert account.balance == 0


@pytest.mark.parametrize("amount", [0, -1, MAX_AMOUNT + 1, 1.5, "10", True, None])
def test_amounts_are_positive_bounded_integers(make_account, amount):
    account = make_account()
    with pytest.raises(ServiceError) as caught:
        ledger_post(account_id=account.pk, type="credit", amount=amount)
    assert caught.value.code == "invalid_amount" and caught.value.status == 400
    assert not LedgerEntry.objects.exists()


def test_the_largest_amount_is_accepted(make_account):
    account = make_account()
    ledger_post(account_id=account.pk, type="credit", amount=MAX_AMOUNT)
    account.refresh_from_db()
    assert account.balance == MAX_AMOUNT


def test_a_balance_cannot_grow_past_its_bound(make_account):
    account = make_account()
    BillingAccount.objects.filter(pk=account.pk).update(balance=MAX_BALANCE - 10)
    with pytest.raises(ServiceError) as caught:
        ledger_post(account_id=account.pk, type="credit", amount=11)
    assert caught.value.code == "balance_limit_exceeded"


def test_an_unknown_type_or_account_is_refused(make_account):
    account = make_account()
    with pytest.raises(ServiceError):
        ledger_post(account_id=account.pk, type="refund", amount=1)
    with pytest.raises(ServiceError) as caught:
        ledger_post(account_id=uuid.uuid4(), type="credit", amount=1)
    assert caught.value.status == 404 and caught.value.code == "account_not_found"
    with pytest.raises(ServiceError) as caught:
        ledger_post(account_id="not-a-uuid", type="credit", amount=1)
    assert caught.value.status == 404


def test_each_posting_records_an_audit_event_in_its_transaction(make_account):
    account = make_account()
    StagedEvent.objects.all().delete()
    entry = ledger_post(account_id=account.pk, type="credit", amount=7, reference_id="pi_1")
    audit_sequence()
    event = AuditEvent.objects.get(type="LEDGER_ENTRY_POSTED", target_id=entry.pk)
    assert event.before == {"balance": 0} and event.after == {"balance": 7}
    assert event.metadata["amount"] == 7 and event.metadata["account_id"] == str(account.pk)


@pytest.mark.parametrize("kind, reference", [("credit", "pi_1"), ("debit", 'quote " back\\slash \u00e9 \t'),
                                             ("credit", "")])
def test_a_postings_staged_event_is_what_audit_record_writes(make_account, kind, reference):
    """On PostgreSQL the posting stages its event inside its own statement; the text must be the canonical JSON
    (and the context) that audit_record would have written, since the chain hashes the stored bytes."""
    account = make_account(balance=500)
    StagedEvent.objects.all().delete()
    with audit_context.scope(actor_type="app", actor_id=account.user_id, app_id=None, ip="203.0.113.9",
                             user_agent="tests"):
        entry = ledger_post(account_id=account.pk, type=kind, amount=120, reference_id=reference,
                            description=f"about {reference}")
    assert StagedEvent.objects.count() == 1
    after = 620 if kind == "credit" else 380
    expected = audit_event_values(
        "LEDGER_ENTRY_POSTED", action=kind, target_type="ledger_entry", target_id=entry.pk,
        before={"balance": 500}, after={"balance": after}, actor_type="app", actor_id=account.user_id,
        metadata={"account_id": str(account.pk), "amount": 120, "sequence": 2, "reference_id": reference,
                  "corrects": None, "tenant_id": None, "description": f"about {reference}",
                  "created_at": format_time(entry.created_at)})
    with connection.cursor() as cursor:  # the stored text, as the sequencer hashes it
        cursor.execute("SELECT before, after, metadata, type, action, target_type, target_id, actor_type, actor_id, "
                       "ip, user_agent FROM audit_staging")
        row = list(cursor.fetchone())
    row[6], row[8] = uuid.UUID(str(row[6])), uuid.UUID(str(row[8]))
    assert row == [expected["before"], expected["after"], expected["metadata"], "LEDGER_ENTRY_POSTED", kind,
                   "ledger_entry", entry.pk, "app", account.user_id, "203.0.113.9", "tests"]
    audit_sequence()
    assert AuditEvent.objects.get(target_id=entry.pk).after == {"balance": after}
    assert chain_verify().ok


def test_a_posting_rolls_back_with_its_callers_transaction(make_account):
    account = make_account(balance=50)
    StagedEvent.objects.all().delete()
    with pytest.raises(RuntimeError), transaction.atomic():
        ledger_post(account_id=account.pk, type="debit", amount=50)
        raise RuntimeError("the caller fails after the posting")
    account.refresh_from_db()
    assert account.balance == 50 and account.last_sequence == 1
    assert not LedgerEntry.objects.filter(account=account, type="debit").exists()
    assert not StagedEvent.objects.exists()


def test_a_refused_posting_leaves_no_audit_event(make_account):
    account = make_account()
    StagedEvent.objects.all().delete()
    with pytest.raises(ServiceError):
        ledger_post(account_id=account.pk, type="debit", amount=1)
    assert not StagedEvent.objects.exists()


@pytest.mark.parametrize("scope", ["billing", "all"])
def test_a_kill_switch_stops_postings_with_423_and_nothing_written(make_account, halt, scope):
    account, other = make_account(balance=50), make_account()
    halt(scope)
    entries, staged = LedgerEntry.objects.count(), StagedEvent.objects.count()
    for call in (
        lambda: ledger_post(account_id=account.pk, type="credit", amount=1),
        lambda: ledger_post(account_id=account.pk, type="debit", amount=1),
        lambda: ledger_transfer(from_account_id=account.pk, to_account_id=other.pk, amount=1),
    ):
        with pytest.raises(ServiceError) as caught:
            call()
        assert caught.value.status == 423 and caught.value.code == "kill_switch_active"
    account.refresh_from_db()
    assert account.balance == 50
    assert LedgerEntry.objects.count() == entries and StagedEvent.objects.count() == staged


def test_another_scope_kill_switch_does_not_stop_billing(make_account, halt):
    account = make_account()
    halt("ads")
    ledger_post(account_id=account.pk, type="credit", amount=1)


def test_a_correction_is_a_new_opposite_entry_referencing_the_original(make_account):
    account = make_account()
    wrong = ledger_post(account_id=account.pk, type="credit", amount=500, reference_id="typo")
    fix = ledger_post(account_id=account.pk, type="debit", amount=500, corrects=wrong)
    assert fix.corrects_id == wrong.pk and fix.balance_after == 0
    wrong.refresh_from_db()
    assert (wrong.amount, wrong.balance_after) == (500, 500)  # the original is untouched


def test_corrections_cannot_exceed_the_corrected_amount(make_account):
    account = make_account()
    original = ledger_post(account_id=account.pk, type="credit", amount=500)
    ledger_post(account_id=account.pk, type="debit", amount=300, corrects=original.pk)
    with pytest.raises(ServiceError) as caught:
        ledger_post(account_id=account.pk, type="debit", amount=201, corrects=original.pk)
    assert caught.value.code == "invalid_correction"
    ledger_post(account_id=account.pk, type="debit", amount=200, corrects=original.pk)


def test_a_correction_must_be_opposite_and_on_the_same_account(make_account):
    account, other = make_account(), make_account(balance=10)
    original = ledger_post(account_id=account.pk, type="credit", amount=5)
    for kwargs in ({"account_id": account.pk, "type": "credit"}, {"account_id": other.pk, "type": "debit"}):
        with pytest.raises(ServiceError) as caught:
            ledger_post(amount=1, corrects=original, **kwargs)
        assert caught.value.code == "invalid_correction"


def test_corrections_reverse_at_most_the_rest_of_an_entry(make_account):
    account = make_account()
    spend = ledger_post(account_id=account.pk, type="credit", amount=900)
    ledger_post(account_id=account.pk, type="debit", amount=100, corrects=spend.pk)
    rest = ledger_post(account_id=account.pk, type="debit", amount=800, corrects=spend)
    assert rest.amount == 800 and rest.corrects_id == spend.pk and rest.balance_after == 0
    with pytest.raises(ServiceError) as caught:
        ledger_post(account_id=account.pk, type="debit", amount=1, corrects=spend)
    assert caught.value.code == "invalid_correction"


def test_a_transfer_moves_money_between_two_accounts(make_account):
    source, target = make_account(balance=1000), make_account()
    debit, credit = ledger_transfer(from_account_id=source.pk, to_account_id=target.pk, amount=250,
                                    description="split")
    source.refresh_from_db()
    target.refresh_from_db()
    assert (source.balance, target.balance) == (750, 250)
    assert debit.reference_id == credit.reference_id and debit.reference_id.startswith("transfer:")


def test_a_transfer_beyond_the_balance_writes_nothing(make_account):
    source, target = make_account(balance=10), make_account()
    with pytest.raises(ServiceError) as caught:
        ledger_transfer(from_account_id=source.pk, to_account_id=target.pk, amount=11)
    assert caught.value.code == "insufficient_funds"
    assert LedgerEntry.objects.filter(account=target).count() == 0


def test_a_transfer_needs_two_accounts_of_one_currency(make_account):
    source, usd = make_account(balance=10), make_account(currency="USD")
    with pytest.raises(ServiceError) as caught:
        ledger_transfer(from_account_id=source.pk, to_account_id=source.pk, amount=1)
    assert caught.value.code == "same_account"
    with pytest.raises(ServiceError) as caught:
        ledger_transfer(from_account_id=source.pk, to_account_id=usd.pk, amount=1)
    assert caught.value.code == "currency_mismatch"


def test_a_manual_adjustment_needs_ten_characters_of_justification(make_account, make_user):
    account, officer = make_account(balance=10), make_user()
    with pytest.raises(ServiceError) as caught:
        ledger_adjust(account_id=account.pk, type="credit", amount=5, justification="  too short ", actor=officer)
    assert "justification" in caught.value.fields
    entry = ledger_adjust(account_id=account.pk, type="debit", amount=5, justification="Duplicate top-up #42",
                          actor=officer)
    audit_sequence()
    event = AuditEvent.objects.get(type="LEDGER_ADJUSTED")
    assert event.reason == "Duplicate top-up #42" and event.actor_id == officer.pk
    assert event.after["entry_id"] == str(entry.pk)


def test_ledger_entries_refuse_update_and_delete_in_django(make_account):
    entry = ledger_post(account_id=make_account().pk, type="credit", amount=1)
    with pytest.raises(AppendOnlyViolation):
        entry.save()
    with pytest.raises(AppendOnlyViolation):
        entry.delete()
    with pytest.raises(AppendOnlyViolation):
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=2)
    with pytest.raises(AppendOnlyViolation):
        LedgerEntry.objects.all().delete()


@pytest.mark.parametrize("sql", [
    "UPDATE ledger_entries SET amount = amount + 1",
    "UPDATE ledger_entries SET balance_after = 0",
    "DELETE FROM ledger_entries",
])
def test_ledger_entries_refuse_update_and_delete_in_the_database(make_account, sql):
    ledger_post(account_id=make_account().pk, type="credit", amount=1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert LedgerEntry.objects.get().amount == 1


def test_the_database_refuses_a_negative_balance_even_without_the_service(make_account):
    account = make_account()
    with pytest.raises(DatabaseError), transaction.atomic():
        BillingAccount.objects.filter(pk=account.pk).update(balance=-1)


def test_the_invariant_holds_after_a_mix_of_operations(make_account):
    a, b = make_account(balance=1000), make_account(balance=5)
    ledger_transfer(from_account_id=a.pk, to_account_id=b.pk, amount=300)
    ledger_post(account_id=b.pk, type="debit", amount=305)
    report = ledger_check()
    assert report.ok, report.problems
    assert report.accounts == 2 and report.entries == 5
