"""Payouts: validated destinations, a hold on request, sending by a job, credit back on failure, approvals once."""
import pytest

from audit.models import AuditEvent
from audit.services import audit_sequence
from billing.destinations import cnpj_valid, cpf_valid, destination_parse, mask
from billing.models import LedgerEntry, Payout
from billing.payout_backends import PayoutBackendUnavailable, PayoutResult
from billing.services.payouts import payout_approve, payout_fail, payout_reject, payout_request, payout_send
from billing.verification import ledger_check
from core.errors import ServiceError
from infrastructure.models import Job
from tests.billing.helpers import in_threads

PIX = {"type": "pix", "key": "529.982.247-25"}
BANK = {"type": "bank_account", "bank_code": "341", "branch": "0001", "account_number": "12345-6",
        "account_type": "checking", "holder_document": "11.222.333/0001-81"}


class RefusingBackend:
    """A destination system that turns payouts down."""

    def send(self, **kwargs):
        return PayoutResult(sent=False, failure_reason="account closed at the destination bank")


class UnreachableBackend:
    def send(self, **kwargs):
        raise PayoutBackendUnavailable("timeout")


# --- destinations -------------------------------------------------------------------------------------------------

@pytest.mark.smoke
@pytest.mark.parametrize(("value", "normalised"), [
    ({"type": "pix", "key": "529.982.247-25"}, "pix:cpf:52998224725"),
    ({"type": "pix", "key": "11.222.333/0001-81"}, "pix:cnpj:11222333000181"),
    ({"type": "pix", "key": "Maria@Example.com"}, "pix:email:maria@example.com"),
    ({"type": "pix", "key": "+55 11 98765-4321"}, "pix:phone:+5511987654321"),
    ({"type": "pix", "key": "123e4567-e89b-12d3-a456-426614174000"},
     "pix:random:123e4567-e89b-12d3-a456-426614174000"),
    ({"type": "pix", "key": "52998224725", "key_type": "cpf"}, "pix:cpf:52998224725"),
    (BANK, "bank:341:0001:123456:checking:cnpj:11222333000181"),
])
def test_valid_destinations_are_normalised(value, normalised):
    assert destination_parse(value).normalised == normalised


@pytest.mark.smoke
@pytest.mark.parametrize("value", [
    "pix:123", None, {"type": "boleto"},
    {"type": "pix"}, {"type": "pix", "key": "529.982.247-24"}, {"type": "pix", "key": "111.111.111-11"},
    {"type": "pix", "key": "11.222.333/0001-82"}, {"type": "pix", "key": "not an email@"},
    {"type": "pix", "key": "+1 202 555 0143"}, {"type": "pix", "key": "12345"},
    {"type": "pix", "key": "52998224725", "key_type": "email"}, {"type": "pix", "key": "x", "key_type": "iban"},
    {**BANK, "bank_code": "34"}, {**BANK, "branch": "1"}, {**BANK, "account_number": ""},
    {**BANK, "account_type": "crypto"}, {**BANK, "holder_document": "123"},
])
def test_invalid_destinations_are_refused(value):
    with pytest.raises(ServiceError) as caught:
        destination_parse(value)
    assert caught.value.code == "invalid_destination" and caught.value.status == 400


@pytest.mark.smoke
def test_document_check_digits():
    assert cpf_valid("52998224725") and not cpf_valid("52998224726") and not cpf_valid("00000000000")
    assert cnpj_valid("11222333000181") and not cnpj_valid("11222333000180")


@pytest.mark.smoke
def test_masks_hide_personal_data():
    assert mask("pix:cpf:52998224725") == "pix:cpf:***4725"
    assert mask("pix:email:maria@example.com") == "pix:email:m***@example.com"
    assert mask("bank:341:0001:123456:checking:cnpj:11222333000181") == "bank:341:0001:***456:checking"


# --- the payout lifecycle -----------------------------------------------------------------------------------------

needs_db = pytest.mark.django_db


@needs_db
def test_a_payout_holds_the_amount_and_the_job_sends_it(make_account, run_jobs):
    account = make_account(balance=5000)
    payout = payout_request(account_id=account.pk, amount=1200, destination=PIX)
    account.refresh_from_db()
    assert (payout.status, payout.approval) == ("pending", "not_required") and account.balance == 3800
    assert payout.hold_entry.type == "debit" and payout.hold_entry.reference_id == str(payout.pk)
    assert Job.objects.filter(type="payout_send", payload={"payout_id": str(payout.pk)}).exists()
    run_jobs("payout_send")
    payout.refresh_from_db()
    assert payout.status == "sent" and payout.provider_reference.startswith("po_local_") and payout.sent_at
    account.refresh_from_db()
    assert account.balance == 3800
    run_jobs("payout_send")  # delivered again: nothing changes
    assert LedgerEntry.objects.filter(reference_id=str(payout.pk)).count() == 1


@needs_db
def test_a_payout_beyond_the_balance_is_refused_and_writes_nothing(make_account):
    account = make_account(balance=100)
    with pytest.raises(ServiceError) as caught:
        payout_request(account_id=account.pk, amount=101, destination=PIX)
    assert caught.value.code == "insufficient_funds"
    assert not Payout.objects.exists() and not Job.objects.filter(type="payout_send").exists()


@needs_db
def test_a_refused_payout_is_credited_back_with_a_reference(make_account, run_jobs, settings):
    settings.BILLING_PAYOUT_BACKEND = "tests.billing.test_payouts.RefusingBackend"
    account = make_account(balance=1000)
    payout = payout_request(account_id=account.pk, amount=400, destination=BANK)
    run_jobs("payout_send")
    payout.refresh_from_db()
    account.refresh_from_db()
    assert payout.status == "failed" and "account closed" in payout.failure_reason and account.balance == 1000
    reversal = payout.reversal_entry
    assert (reversal.type, reversal.amount, reversal.reference_id, reversal.corrects_id) == (
        "credit", 400, str(payout.pk), payout.hold_entry_id)
    audit_sequence()
    assert AuditEvent.objects.filter(type="PAYOUT_FAILED", target_id=payout.pk).exists()
    assert ledger_check().ok


@needs_db
def test_an_unreachable_destination_keeps_the_payout_pending_for_a_retry(make_account, settings):
    settings.BILLING_PAYOUT_BACKEND = "tests.billing.test_payouts.UnreachableBackend"
    account = make_account(balance=1000)
    payout = payout_request(account_id=account.pk, amount=400, destination=PIX)
    with pytest.raises(PayoutBackendUnavailable):
        payout_send(payout_id=payout.pk)
    payout.refresh_from_db()
    assert payout.status == "pending"
    settings.BILLING_PAYOUT_BACKEND = "billing.payout_backends.LocalPayoutBackend"
    assert payout_send(payout_id=payout.pk).status == "sent"


@needs_db
def test_the_kill_switch_holds_payouts_back(make_account, halt):
    account = make_account(balance=1000)
    payout = payout_request(account_id=account.pk, amount=400, destination=PIX)
    halt("all")
    with pytest.raises(ServiceError) as caught:
        payout_send(payout_id=payout.pk)
    assert caught.value.status == 423
    payout.refresh_from_db()
    assert payout.status == "pending"
    halt.lift("all")
    assert payout_send(payout_id=payout.pk).status == "sent"


@needs_db
def test_a_large_payout_waits_for_approval(make_account, make_user, run_jobs, settings):
    settings.BILLING_PAYOUT_APPROVAL_THRESHOLD = 1000
    account = make_account(balance=5000)
    small = payout_request(account_id=account.pk, amount=1000, destination=PIX)
    large = payout_request(account_id=account.pk, amount=1001, destination=PIX)
    assert small.approval == "not_required" and large.approval == "awaiting"
    run_jobs("payout_send")
    large.refresh_from_db()
    assert large.status == "pending"  # held, not sent
    payout_send(payout_id=large.pk)  # a stray job run does not send it either
    large.refresh_from_db()
    assert large.status == "pending"

    officer = make_user()
    payout_approve(large, actor=officer, reason="verified with the customer")
    with pytest.raises(ServiceError) as caught:
        payout_approve(large, actor=officer)
    assert caught.value.code == "payout_state_conflict"
    assert Job.objects.filter(type="payout_send", payload={"payout_id": str(large.pk)}).count() == 1
    run_jobs("payout_send")
    large.refresh_from_db()
    assert large.status == "sent" and large.decided_by == officer
    audit_sequence()
    assert AuditEvent.objects.get(type="PAYOUT_APPROVED").reason == "verified with the customer"


@needs_db
def test_a_rejected_payout_is_credited_back_once(make_account, make_user, settings):
    settings.BILLING_PAYOUT_APPROVAL_THRESHOLD = 0
    account = make_account(balance=700)
    payout = payout_request(account_id=account.pk, amount=700, destination=PIX)
    payout_reject(payout.pk, actor=make_user(), reason="destination does not match the account holder")
    for again in (payout_reject, payout_approve):
        with pytest.raises(ServiceError):
            again(payout.pk, actor=None)
    payout.refresh_from_db()
    account.refresh_from_db()
    assert (payout.status, payout.approval, account.balance) == ("failed", "rejected", 700)
    assert LedgerEntry.objects.filter(reference_id=str(payout.pk), type="credit").count() == 1


@needs_db
def test_an_operator_can_fail_a_stuck_payout(make_account, make_user):
    account = make_account(balance=300)
    payout = payout_request(account_id=account.pk, amount=300, destination=PIX)
    payout_fail(payout, actor=make_user(), reason="bank keeps timing out")
    account.refresh_from_db()
    assert account.balance == 300
    with pytest.raises(ServiceError):
        payout_fail(payout, actor=None, reason="again")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_approvals_and_rejections_decide_once(make_account, settings):
    settings.BILLING_PAYOUT_APPROVAL_THRESHOLD = 0
    account = make_account(balance=1000)
    payout = payout_request(account_id=account.pk, amount=1000, destination=PIX)

    def decide(i):
        try:
            (payout_approve if i % 2 else payout_reject)(payout.pk, actor=None, reason=f"decision {i}")
            return "ok"
        except ServiceError as exc:
            return exc.code

    outcomes = in_threads(8, decide)
    assert outcomes.count("ok") == 1 and outcomes.count("payout_state_conflict") == 7
    payout.refresh_from_db()
    jobs = Job.objects.filter(type="payout_send").count()
    credits = LedgerEntry.objects.filter(reference_id=str(payout.pk), type="credit").count()
    assert (payout.approval, jobs, credits) in (("approved", 1, 0), ("rejected", 0, 1))
    assert ledger_check().ok
