"""The reconcile job compares the ledger with the balances and reports differences without fixing them."""
import logging

import pytest

from audit.models import AuditEvent
from audit.services import audit_sequence
from billing.models import BillingAccount
from billing.services.ledger import ledger_post
from billing.services.reconcile import reconcile_run
from infrastructure.services.jobs import job_enqueue

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def test_a_sound_ledger_reconciles_without_differences(make_account):
    for balance in (10, 20):
        ledger_post(account_id=make_account(balance=balance).pk, type="debit", amount=5)
    report = reconcile_run()
    assert report.differences == [] and (report.accounts, report.entries) == (2, 4)
    assert report.intents_checked == 0  # the local provider has nothing to compare against
    audit_sequence()
    assert AuditEvent.objects.get(type="BILLING_RECONCILED").metadata["differences"] == 0


def test_a_balance_that_drifted_is_reported_and_left_alone(make_account, run_jobs, caplog):
    sound, drifted = make_account(balance=100), make_account(balance=200)
    BillingAccount.objects.filter(pk=drifted.pk).update(balance=250)
    job_enqueue("reconcile")
    with caplog.at_level(logging.WARNING, logger="prostqs.billing.reconcile"):
        run_jobs("reconcile")
    audit_sequence()
    differences = AuditEvent.objects.filter(type="BILLING_RECONCILE_DIFFERENCE")
    assert {str(d.target_id) for d in differences} == {str(drifted.pk)}
    assert str(drifted.pk) in caplog.text and "balance 250 but credits - debits = 200" in caplog.text
    drifted.refresh_from_db()
    sound.refresh_from_db()
    assert (drifted.balance, sound.balance) == (250, 100)  # never fixed


def test_the_beat_tasks_queue_one_job_at_a_time():
    from billing import tasks
    from infrastructure.models import Job

    assert tasks.reconcile() is True and tasks.reconcile() is False
    assert tasks.idempotency_cleanup() is True
    assert sorted(Job.objects.values_list("type", flat=True)) == ["idempotency_cleanup", "reconcile"]
