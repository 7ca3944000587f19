"""The finance officers' console: read-only pages, filters, streamed CSV, adjustments and actions via services."""
import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_sequence
from billing.models import LedgerEntry, PaymentIntent, Payout, ProcessedWebhook
from billing.services.ledger import ledger_post
from billing.services.payments import payment_intent_create
from billing.services.payouts import payout_request
from identity.models import User
from tests.clients import Client

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]

MODELS = ("billingaccount", "ledgerentry", "paymentintent", "payout", "subscription", "processedwebhook",
          "idempotencykey")


@pytest.fixture
def officer():
    user = User.objects.create_user(username="finance", role=User.Role.ADMIN)
    user.groups.add(Group.objects.get(name="finance_officer"))
    return user


@pytest.fixture
def console(officer) -> Client:
    client = Client()
    client.force_login(officer)
    return client


def rows(response) -> list[list[str]]:
    content = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(content)))


@pytest.mark.parametrize("model", MODELS)
def test_finance_officers_see_every_billing_page(console, make_account, model):
    account = make_account(balance=100)
    assert console.get(reverse(f"admin:billing_{model}_changelist")).status_code == 200
    if model == "ledgerentry":
        entry = LedgerEntry.objects.get(account=account)
        assert console.get(reverse("admin:billing_ledgerentry_change", args=[entry.pk])).status_code == 200


@pytest.mark.parametrize("model", MODELS)
def test_nothing_is_added_changed_or_deleted_in_place(console, make_account, model):
    make_account(balance=100)
    assert console.get(reverse(f"admin:billing_{model}_add")).status_code == 403
    if model == "ledgerentry":
        entry = LedgerEntry.objects.get()
        assert console.post(reverse("admin:billing_ledgerentry_delete", args=[entry.pk]), {"post": "yes"}
                            ).status_code == 403
        response = console.post(reverse("admin:billing_ledgerentry_change", args=[entry.pk]), {"amount": 1})
        assert response.status_code == 403
        entry.refresh_from_db()
        assert entry.amount == 100


def test_the_ledger_filters_by_account_type_and_date(console, make_account):
    one, two = make_account(balance=100), make_account(balance=200)
    ledger_post(account_id=one.pk, type="debit", amount=30)
    url = reverse("admin:billing_ledgerentry_changelist")
    page = console.get(f"{url}?account={one.pk}&type__exact=debit").content.decode()
    assert "-0.30" in page and "2.00" not in page
    assert console.get(f"{url}?account=not-a-uuid").status_code == 200
    tomorrow = (timezone.now() + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    empty = console.get(url, {"created_at__gte": str(tomorrow)}).content.decode()  # as the date filter links it
    assert "1.00" not in empty and str(two.pk) not in empty


def test_the_csv_export_streams_the_filtered_ledger(console, make_account):
    one, two = make_account(balance=100), make_account(balance=200)
    for _ in range(5):
        ledger_post(account_id=one.pk, type="debit", amount=10, description="=HYPERLINK(evil)")
    url = reverse("admin:billing_ledgerentry_export")
    response = console.get(f"{url}?account={one.pk}")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    table = rows(response)
    assert table[0][:3] == ["entry_id", "account_id", "sequence"]
    assert [r[1] for r in table[1:]] == [str(one.pk)] * 6 and [int(r[2]) for r in table[1:]] == list(range(1, 7))
    assert [int(r[6]) for r in table[1:]] == [100, 90, 80, 70, 60, 50]
    assert table[2][9] == "'=HYPERLINK(evil)"  # not a formula in a spreadsheet
    debits = rows(console.get(f"{url}?type__exact=debit"))
    assert len(debits) == 6
    everything = rows(console.get(url))
    assert {r[1] for r in everything[1:]} == {str(one.pk), str(two.pk)}
    audit_sequence()
    assert AuditEvent.objects.filter(type="LEDGER_EXPORTED").count() == 3


def test_the_export_is_a_generator_over_the_database_cursor(console, make_account):
    account = make_account(balance=1)
    for _ in range(30):
        ledger_post(account_id=account.pk, type="credit", amount=1)
    response = console.get(reverse("admin:billing_ledgerentry_export"))
    chunks = list(response.streaming_content)
    assert len(chunks) == 32  # a header and one chunk per row: nothing is built up in memory first


def test_export_needs_its_permission(make_account):
    staff = User.objects.create_user(username="viewer", role=User.Role.ADMIN)
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(Permission.objects.get(codename="view_ledgerentry"))
    client = Client()
    client.force_login(staff)
    assert client.get(reverse("admin:billing_ledgerentry_changelist")).status_code == 200
    assert client.get(reverse("admin:billing_ledgerentry_export")).status_code == 403


def test_a_manual_adjustment_goes_through_the_posting_service(console, officer, make_account):
    account = make_account(balance=500)
    url = reverse("admin:billing_billingaccount_adjust", args=[account.pk])
    assert console.get(url).status_code == 200
    short = console.post(url, {"type": "credit", "amount": 50, "justification": "too short"})
    assert short.status_code == 200 and LedgerEntry.objects.count() == 1
    overdraw = console.post(url, {"type": "debit", "amount": 501, "justification": "Chargeback recovered manually"})
    assert overdraw.status_code == 200 and "lower than the debit" in overdraw.content.decode()
    done = console.post(url, {"type": "debit", "amount": 120, "justification": "Duplicate credit of order 991"})
    assert done.status_code == 302
    account.refresh_from_db()
    assert account.balance == 380
    audit_sequence()
    event = AuditEvent.objects.get(type="LEDGER_ADJUSTED")
    assert event.actor_id == officer.pk and event.reason == "Duplicate credit of order 991"


def test_adjustments_need_their_permission(make_account):
    staff = User.objects.create_user(username="staff", role=User.Role.ADMIN)
    client = Client()
    client.force_login(staff)
    account = make_account(balance=5)
    url = reverse("admin:billing_billingaccount_adjust", args=[account.pk])
    assert client.post(url, {"type": "credit", "amount": 1, "justification": "x" * 20}).status_code == 403
    assert LedgerEntry.objects.count() == 1


def test_a_local_intent_is_marked_succeeded_through_the_webhook_path(console, make_account):
    account = make_account()
    intent, _secret = payment_intent_create(account_id=account.pk, amount=990, currency="BRL")
    url = reverse("admin:billing_paymentintent_changelist")
    for _ in range(2):
        console.post(url, {"action": "mark_local_succeeded", "_selected_action": [str(intent.pk)]})
    intent.refresh_from_db()
    account.refresh_from_db()
    assert intent.status == "confirmed" and account.balance == 990
    row = ProcessedWebhook.objects.get()
    assert row.event_id.startswith("evt_local_") and row.event_type == "payment_intent.succeeded" and row.success


def test_payouts_are_approved_and_rejected_with_a_reason(console, officer, make_account, settings, run_jobs):
    """Each is a decision on the payout's approval request (tests/billing/test_payout_approvals.py has more)."""
    from governance.services.authorities import authority_grant

    authority_grant(user=officer, role="finance_officer", scopes=["billing"], max_impact="high", granted_by=None)
    settings.BILLING_PAYOUT_APPROVAL_THRESHOLD = 10
    account = make_account(balance=1000)
    first = payout_request(account_id=account.pk, amount=100, destination={"type": "pix", "key": "a@b.co"})
    second = payout_request(account_id=account.pk, amount=200, destination={"type": "pix", "key": "a@b.co"})
    url = reverse("admin:billing_payout_changelist")
    console.post(url, {"action": "approve", "_selected_action": [str(first.pk)], "apply": "1",
                       "reason": "Checked with the customer"})
    run_jobs()
    first.refresh_from_db()
    assert first.approval == "approved" and first.decided_by == officer and first.status == "sent"

    ask = console.post(url, {"action": "reject", "_selected_action": [str(second.pk)]})
    assert ask.status_code == 200 and b"reason" in ask.content
    too_short = console.post(url, {"action": "reject", "_selected_action": [str(second.pk)], "apply": "1",
                                   "reason": "no"})
    assert too_short.status_code == 200
    run_jobs()
    second.refresh_from_db()
    assert second.approval == "awaiting"
    console.post(url, {"action": "reject", "_selected_action": [str(second.pk)], "apply": "1",
                       "reason": "Holder name does not match"})
    run_jobs()
    second.refresh_from_db()
    account.refresh_from_db()
    assert (second.status, second.approval, account.balance) == ("failed", "rejected", 900)
    assert Payout.objects.get(pk=second.pk).decision_reason == "Holder name does not match"


def test_failed_webhooks_are_applied_again_from_the_console(console, make_account, halt):
    from tests.billing.test_webhooks import stripe_intent, succeeded

    account = make_account()
    intent = stripe_intent(account, amount=300)
    halt("billing")
    from billing.services.webhooks import WebhookFailed, webhook_process

    with pytest.raises(WebhookFailed):
        webhook_process(succeeded(intent))
    halt.lift("billing")
    row = ProcessedWebhook.objects.get()
    console.post(reverse("admin:billing_processedwebhook_changelist"),
                 {"action": "retry", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.success
    assert PaymentIntent.objects.get(pk=intent.pk).status == "confirmed"
