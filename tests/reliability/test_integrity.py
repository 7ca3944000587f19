"""verify_all: every verifier runs, the report is stored, a tampered record fails it, the daily run raises the
alert (the kill switch) that the dashboard shows."""
from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from console import integrity
from core.integrity import registry
from infrastructure.models import IntegrityReport, KillSwitch

pytestmark = [pytest.mark.django_db]

EXPECTED = {"audit_chain", "ledger", "approval_decisions", "append_only_triggers", "ad_spend_totals",
            "lifecycle_chains"}


@pytest.fixture
def demo(db):
    """Money moved and spent: two funded accounts (one spent on ads), a debit and a refund-like credit."""
    from ads.services import campaign_spend
    from billing.services.ledger import ledger_post
    from tests.ads.conftest import make_setup_now

    first, second = make_setup_now(), make_setup_now(balance=5_000)
    for n in range(3):
        campaign_spend(campaign_id=first.campaign.pk, amount=100 + n, quantity=1, unit="click",
                       idempotency_key=f"k{n}")
    ledger_post(account_id=second.account.balance_account_id, type="debit", amount=700, description="fee")
    return first, second


@pytest.mark.smoke
def test_every_verifier_holds_on_the_demo_data_and_the_report_is_stored(demo, capsys, audit_log):
    call_command("verify_all")
    out = capsys.readouterr().out
    assert "integrity intact" in out
    report = integrity.latest_report()
    assert report.ok and report.trigger == "command"
    names = {r["name"] for r in report.results}
    assert names >= EXPECTED
    checked = {r["name"]: r["checked"] for r in report.results}
    assert checked["ledger"] >= 2 and checked["audit_chain"] > 0 and checked["ad_spend_totals"] >= 4
    assert checked["append_only_triggers"] >= 9
    audit_log.assert_recorded("INTEGRITY_CHECK_PASSED", target_id=report.pk)


def test_json_output_and_no_store(demo, capsys):
    before = IntegrityReport.objects.count()
    call_command("verify_all", "--json", "--no-store")
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True and {v["name"] for v in doc["verifiers"]} >= EXPECTED
    assert all({"ok", "checked", "problems", "seconds"} <= set(v) for v in doc["verifiers"])
    assert IntegrityReport.objects.count() == before


def test_a_tampered_balance_fails_the_ledger_verifier_with_exit_1(demo, capsys):
    from billing.models import BillingAccount

    account = BillingAccount.objects.filter(balance__gt=0).first()
    BillingAccount.objects.filter(pk=account.pk).update(balance=account.balance + 1)
    with pytest.raises(CommandError) as raised:
        call_command("verify_all")
    assert raised.value.returncode == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and str(account.pk) in out
    report = integrity.latest_report()
    assert not report.ok
    assert [r["name"] for r in report.results if not r["ok"]] == ["ledger"]


def test_a_dropped_append_only_trigger_is_found(demo):
    if connection.vendor == "postgresql":
        sql = 'DROP TRIGGER "ledger_entries_append_only" ON "ledger_entries"'
    else:
        sql = 'DROP TRIGGER "ledger_entries_no_update"'
    with connection.cursor() as cursor:
        cursor.execute(sql)
    report = integrity.run_all(store=False)
    failed = {r.name: r for r in report.results if not r.ok}
    assert list(failed) == ["append_only_triggers"]
    assert "ledger_entries" in failed["append_only_triggers"].problems[0]


@pytest.mark.postgres
def test_an_altered_audit_event_breaks_the_chain(demo):
    from audit.services import audit_sequence

    audit_sequence()
    with connection.cursor() as cursor:
        # What an attacker with the database's superuser could do: step around the triggers.
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE audit_events SET reason = 'rewritten' WHERE sequence = 3")
        cursor.execute("SET LOCAL session_replication_role = origin")
    report = integrity.run_all(store=False)
    failed = {r.name: r for r in report.results if not r.ok}
    assert list(failed) == ["audit_chain"]
    assert "content altered" in failed["audit_chain"].problems[0]


def test_a_spend_total_out_of_step_with_its_events_is_found(demo):
    from ads.models import AdBudget

    budget = AdBudget.objects.filter(amount_spent__gt=0).first()
    AdBudget.objects.filter(pk=budget.pk).update(amount_spent=budget.amount_spent + 5)
    report = integrity.run_all(store=False)
    assert [r.name for r in report.results if not r.ok] == ["ad_spend_totals"]


@pytest.mark.smoke
def test_the_seeded_demo_passes_every_verifier():
    call_command("seed_demo")
    report = integrity.run_all(store=False)
    assert report.ok, report.summary()


def test_a_tampered_lifecycle_transition_fails_the_lifecycle_verifier():
    call_command("seed_demo")
    from memory.models import LifecycleTransition

    assert integrity.run_all(store=False, only=["lifecycle_chains"]).ok
    row = LifecycleTransition.objects.order_by("pk").first()
    table = LifecycleTransition._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        else:
            cursor.execute(f'DROP TRIGGER IF EXISTS "{table}_no_update"')
        cursor.execute(f'UPDATE "{table}" SET reason = %s WHERE {LifecycleTransition._meta.pk.column} = %s',
                       ["rewritten", row.pk])
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = origin")
    failed = [r for r in integrity.run_all(store=False).results if not r.ok]
    assert "lifecycle_chains" in [r.name for r in failed]


def test_a_verifier_that_raises_is_a_failure_not_a_crash():
    def broken():
        raise RuntimeError("disk on fire")

    result = registry.run_one("broken", broken)
    assert not result.ok and "disk on fire" in result.problems[0]


def test_register_refuses_a_name_twice():
    with pytest.raises(ValueError):
        registry.register("ledger")(lambda: None)


def test_the_daily_run_raises_the_kill_switch_alert_shown_on_the_dashboard(demo, admin_client, settings):
    from billing.models import BillingAccount
    from console.tasks import verify_all_task

    assert settings.CELERY_BEAT_SCHEDULE["prostqs.verify_all"]["task"] == "prostqs.verify_all"
    assert verify_all_task() is True
    assert not KillSwitch.objects.get(scope="all").active
    page = admin_client.get("/admin/").content.decode()
    assert 'id="dash-integrity"' in page and "Integrity intact" in page

    account = BillingAccount.objects.filter(balance__gt=0).first()
    BillingAccount.objects.filter(pk=account.pk).update(balance=account.balance - 1)
    assert verify_all_task() is False
    switch = KillSwitch.objects.get(scope="all")
    assert switch.active and switch.reason == "integrity check failed: ledger"
    page = admin_client.get("/admin/").content.decode()
    assert "Integrity check failed" in page and "integrity check failed: ledger" in page  # the switch's card


def test_the_alert_can_be_report_only(demo, settings):
    from billing.models import BillingAccount

    settings.INTEGRITY_FAILURE_KILL_SWITCH = ""
    account = BillingAccount.objects.filter(balance__gt=0).first()
    BillingAccount.objects.filter(pk=account.pk).update(balance=account.balance - 1)
    report = integrity.run_all(trigger="schedule", alert=True)
    assert not report.ok and not KillSwitch.objects.get(scope="all").active


def test_integrity_reports_are_append_only(demo):
    from audit.immutable import AppendOnlyViolation

    report = integrity.run_all()
    row = IntegrityReport.objects.get(pk=report.id)
    with pytest.raises(AppendOnlyViolation):
        row.delete()
    assert "integrity_reports" in __import__("audit.immutable", fromlist=["x"]).append_only_tables()
