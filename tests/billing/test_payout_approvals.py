"""Payouts above the threshold wait for a governance approval: executed once after it, reversed after a rejection
or an expiry, decided over the governance API or the billing console, delivered at least once."""
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from billing.models import LedgerEntry, Payout
from billing.services.payouts import payout_fail, payout_request
from billing.verification import ledger_check
from core.errors import ServiceError
from governance.callbacks import approval_callback
from governance.models import ApprovalDecision, ApprovalRequest
from governance.services.approvals import CALLBACK_JOB, EXPIRE_JOB
from governance.services.authorities import authority_grant
from identity.models import User
from identity.services.sessions import session_open
from infrastructure.models import Job
from infrastructure.services.jobs import job_enqueue, job_retry_now
from tests.billing.helpers import in_threads
from tests.clients import APIClient, Client

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]
PIX = {"type": "pix", "key": "529.982.247-25"}
WHY = "Matched the payout against the signed contract."
THRESHOLD = 100_000


@pytest.fixture(autouse=True)
def threshold(settings):
    settings.BILLING_PAYOUT_APPROVAL_THRESHOLD = THRESHOLD
    return THRESHOLD


@pytest.fixture
def authority(make_user):
    """A person with a decision authority over billing (up to high impact unless said otherwise)."""

    def make(*, max_impact="high", scopes=("billing",), user=None):
        user = user or make_user()
        authority_grant(user=user, role="finance_officer", scopes=list(scopes), max_impact=max_impact,
                        granted_by=None, reason="test grant")
        return user

    return make


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {session_open(user=user).token}")
    return client


def decide(user, request, decision="approved", justification=WHY):
    return api(user).post(f"/api/v1/governance/approvals/{request.pk}/decisions",
                          {"decision": decision, "justification": justification})


def approval_of(payout) -> ApprovalRequest:
    return ApprovalRequest.objects.get(domain="billing", reference=str(payout.pk))


def entries(payout, type_=None):
    found = LedgerEntry.objects.filter(reference_id=str(payout.pk))
    return found.filter(type=type_) if type_ else found


def send_jobs(payout):
    return Job.objects.filter(type="payout_send", payload={"payout_id": str(payout.pk)})


def redeliver(request) -> None:
    """At-least-once delivery: the callback job again, and the registered callbacks called again directly."""
    job_enqueue(CALLBACK_JOB, payload={"request_id": str(request.pk)})
    request.refresh_from_db()
    registered = approval_callback("billing")
    (registered.on_approved if request.status == "approved" else registered.on_rejected)(request)


def test_a_payout_over_the_threshold_opens_an_approval_request_and_sends_nothing(make_account, run_jobs):
    account = make_account(balance=500_000)
    payout = payout_request(account_id=account.pk, amount=THRESHOLD + 1, destination=PIX)
    request = approval_of(payout)
    assert (payout.status, payout.approval) == ("pending", "awaiting")
    assert (request.status, request.action, request.callback, request.amount, request.impact) == (
        "pending", "payout", "billing", THRESHOLD + 1, "medium")
    assert (request.target_type, request.target_id, request.requested_by) == (
        "payout", str(payout.pk), account.user_id)
    assert request.context["destination"] == "pix:cpf:***4725"  # masked: no personal data in the request
    assert request.context["hold_entry_id"] == str(payout.hold_entry_id)
    assert not send_jobs(payout).exists()
    run_jobs()
    payout.refresh_from_db()
    account.refresh_from_db()
    assert (payout.status, account.balance) == ("pending", 500_000 - THRESHOLD - 1)  # held, not sent
    assert [e.type for e in entries(payout)] == ["debit"]


def test_at_the_threshold_no_approval_is_asked(make_account, run_jobs):
    account = make_account(balance=500_000)
    payout = payout_request(account_id=account.pk, amount=THRESHOLD, destination=PIX)
    assert not ApprovalRequest.objects.exists()
    run_jobs()
    payout.refresh_from_db()
    assert payout.status == "sent"


def test_approved_over_the_api_the_payout_is_sent_exactly_once(make_account, authority, run_jobs, audit_log):
    account = make_account(balance=500_000)
    payout = payout_request(account_id=account.pk, amount=300_000, destination=PIX)
    approver = authority()
    response = decide(approver, approval_of(payout))
    assert response.status_code == 201, response.content
    payout.refresh_from_db()
    assert payout.approval == "awaiting"  # the outcome arrives through the callback job

    run_jobs()  # the callback releases the payout, then its send job runs
    request = approval_of(payout)
    redeliver(request)
    run_jobs()
    payout.refresh_from_db()
    account.refresh_from_db()
    assert (payout.status, payout.approval, payout.decided_by, payout.decision_reason) == (
        "sent", "approved", approver, WHY)
    assert [e.type for e in entries(payout)] == ["debit"] and account.balance == 200_000
    assert list(send_jobs(payout).values_list("status", "attempts")) == [("done", 1)]
    assert request.callback_delivered_at is not None
    audit_log.assert_recorded("PAYOUT_APPROVED", target_id=payout.pk)
    audit_log.assert_recorded("PAYOUT_SENT", target_id=payout.pk)
    assert ledger_check().ok
    call_command("ledger_verify", progress_every=0)  # raises on a broken ledger (exit status 1)


def test_rejected_over_the_api_the_hold_is_credited_back_once(make_account, authority, run_jobs, audit_log):
    account = make_account(balance=500_000)
    payout = payout_request(account_id=account.pk, amount=300_000, destination=PIX)
    rejecter = authority()
    assert decide(rejecter, approval_of(payout), "rejected", "Destination does not match the holder.").status_code \
        == 201
    run_jobs()
    redeliver(approval_of(payout))
    run_jobs()
    payout.refresh_from_db()
    account.refresh_from_db()
    assert (payout.status, payout.approval, payout.decided_by) == ("failed", "rejected", rejecter)
    (credit,) = entries(payout, "credit")
    assert (credit.amount, credit.reference_id, credit.corrects_id) == (300_000, str(payout.pk),
                                                                        payout.hold_entry_id)
    assert payout.reversal_entry_id == credit.pk and account.balance == 500_000
    assert not send_jobs(payout).exists()
    audit_log.assert_recorded("PAYOUT_REJECTED", target_id=payout.pk)
    assert ledger_check().ok


def test_an_expired_request_reverses_the_payout(make_account, run_jobs, audit_log):
    account = make_account(balance=500_000)
    payout = payout_request(account_id=account.pk, amount=150_000, destination=PIX)
    ApprovalRequest.objects.filter(pk=approval_of(payout).pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    job_enqueue(EXPIRE_JOB)  # what Celery beat queues
    run_jobs()
    redeliver(approval_of(payout))
    run_jobs()
    payout.refresh_from_db()
    account.refresh_from_db()
    assert approval_of(payout).status == "expired"
    assert (payout.status, payout.approval, payout.decided_by) == ("failed", "rejected", None)
    assert "expired" in payout.failure_reason and account.balance == 500_000
    assert entries(payout, "credit").count() == 1 and not send_jobs(payout).exists()
    assert ledger_check().ok


def test_the_account_holder_cannot_approve_their_own_payout(make_account, authority):
    account = make_account(balance=500_000)
    payout = payout_request(account_id=account.pk, amount=200_000, destination=PIX)
    authority(user=account.user)
    response = decide(account.user, approval_of(payout))
    assert response.status_code == 403 and response.json()["error"]["code"] == "self_approval_forbidden"


def test_the_tenant_whose_app_asked_for_the_payout_cannot_approve_it(make_account, make_user, authority, audit_log):
    """The payout request acts for the account holder and for the owner of the app that asked for it: a tenant
    holding a billing authority does not approve the payouts of its own app."""
    from identity.services.apps import app_create

    tenant = authority(user=make_user())
    app = app_create(owner=tenant, name="Marketplace")
    account = make_account(balance=500_000, tenant_id=tenant.pk)
    payout = payout_request(account_id=account.pk, amount=200_000, destination=PIX, app_id=app.pk)
    request = approval_of(payout)

    response = decide(tenant, request)

    assert response.status_code == 403 and response.json()["error"]["code"] == "self_approval_forbidden"
    assert "owner of the requesting application" in response.json()["error"]["message"]
    request.refresh_from_db()
    payout.refresh_from_db()
    assert request.status == "pending" and not ApprovalDecision.objects.filter(request=request).exists()
    assert payout.approval == "awaiting"
    audit_log.assert_not_recorded("APPROVAL_DECIDED", target_id=request.pk)
    assert decide(authority(), request).status_code == 201


def test_an_authority_below_the_impact_cannot_decide(make_account, authority):
    account = make_account(balance=5_000_000)
    payout = payout_request(account_id=account.pk, amount=1_000_000, destination=PIX)  # high impact
    response = decide(authority(max_impact="medium"), approval_of(payout))
    assert response.status_code == 403 and response.json()["error"]["code"] == "authority_impact"
    payout.refresh_from_db()
    assert payout.approval == "awaiting"


def test_a_critical_payout_needs_two_approvers(make_account, authority, run_jobs):
    account = make_account(balance=20_000_000)
    payout = payout_request(account_id=account.pk, amount=10_000_000, destination=PIX)
    assert approval_of(payout).required_approvals == 2
    assert decide(authority(max_impact="critical"), approval_of(payout)).status_code == 201
    run_jobs()
    payout.refresh_from_db()
    assert payout.approval == "awaiting" and not send_jobs(payout).exists()
    assert decide(authority(max_impact="critical"), approval_of(payout)).status_code == 201
    run_jobs()
    payout.refresh_from_db()
    assert (payout.status, payout.approval) == ("sent", "approved")


def test_the_billing_kill_switch_holds_the_release_back_and_the_callback_is_retried(make_account, authority,
                                                                                     run_jobs, halt, settings):
    settings.JOBS_RETRY_BASE_SECONDS = 3600
    account = make_account(balance=500_000)
    payout = payout_request(account_id=account.pk, amount=200_000, destination=PIX)
    decide(authority(), approval_of(payout))
    halt("billing")
    assert run_jobs(allow_failures=True) == 1
    callback_job = Job.objects.get(type=CALLBACK_JOB)
    assert callback_job.status == "pending" and "KillSwitchActive" in callback_job.last_error
    payout.refresh_from_db()
    assert payout.approval == "awaiting" and approval_of(payout).callback_delivered_at is None
    halt.lift("billing")
    job_retry_now(callback_job)  # the console's "retry now"; otherwise the backoff's due time
    run_jobs()
    payout.refresh_from_db()
    assert (payout.status, payout.approval) == ("sent", "approved")


def test_a_payout_awaiting_approval_is_not_failed_by_hand(make_account, make_user):
    account = make_account(balance=500_000)
    payout = payout_request(account_id=account.pk, amount=200_000, destination=PIX)
    with pytest.raises(ServiceError) as caught:
        payout_fail(payout, actor=make_user(), reason="operator wants it gone")
    assert caught.value.code == "payout_state_conflict"
    assert Payout.objects.get(pk=payout.pk).approval == "awaiting"


# --- the console: approve / reject are decisions on the approval request ------------------------------------------


@pytest.fixture
def officer():
    user = User.objects.create_user(username="finance-approver", role=User.Role.ADMIN)
    user.groups.add(Group.objects.get(name="finance_officer"))
    return user


@pytest.fixture
def console(officer) -> Client:
    client = Client()
    client.force_login(officer)
    return client


CHANGELIST = "admin:billing_payout_changelist"


def test_the_console_records_the_officers_decision_on_the_approval_request(console, officer, authority,
                                                                         make_account, run_jobs):
    authority(user=officer)
    account = make_account(balance=500_000)
    approve, reject = (payout_request(account_id=account.pk, amount=THRESHOLD + n, destination=PIX) for n in (1, 2))
    url = reverse(CHANGELIST)
    ask = console.post(url, {"action": "approve", "_selected_action": [str(approve.pk)]})
    assert ask.status_code == 200 and b"reason" in ask.content  # a justification is asked first
    console.post(url, {"action": "approve", "_selected_action": [str(approve.pk)], "apply": "1",
                       "reason": "Verified with the customer by phone."})
    console.post(url, {"action": "reject", "_selected_action": [str(reject.pk)], "apply": "1",
                       "reason": "Holder name does not match."})
    decisions = ApprovalDecision.objects.order_by("decided_at")
    assert [(d.request.reference, d.decision, d.decided_by) for d in decisions] == [
        (str(approve.pk), "approved", officer), (str(reject.pk), "rejected", officer)]
    run_jobs()
    approve.refresh_from_db()
    reject.refresh_from_db()
    assert (approve.status, approve.decided_by, approve.decision_reason) == (
        "sent", officer, "Verified with the customer by phone.")
    assert (reject.status, reject.approval, reject.decision_reason) == ("failed", "rejected",
                                                                        "Holder name does not match.")
    page = console.get(reverse("admin:billing_payout_change", args=[approve.pk])).content.decode()
    assert reverse("admin:governance_approvalrequest_change", args=[approval_of(approve).pk]) in page


def test_an_officer_without_a_decision_authority_decides_nothing(console, make_account, run_jobs):
    account = make_account(balance=500_000)
    payout = payout_request(account_id=account.pk, amount=THRESHOLD + 1, destination=PIX)
    response = console.post(reverse(CHANGELIST), {"action": "approve", "_selected_action": [str(payout.pk)],
                                                  "apply": "1", "reason": "Looks fine to me, honestly."},
                            follow=True)
    assert "decision authority" in response.content.decode()
    assert not ApprovalDecision.objects.exists()
    run_jobs()
    payout.refresh_from_db()
    assert payout.approval == "awaiting"


# --- concurrency --------------------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_an_approval_release_the_payout_once(make_account, authority):
    account = make_account(balance=500_000)
    payout = payout_request(account_id=account.pk, amount=300_000, destination=PIX)
    assert decide(authority(), approval_of(payout)).status_code == 201
    request = approval_of(payout)
    registered = approval_callback("billing")

    def deliver(i):
        registered.on_approved(ApprovalRequest.objects.get(pk=request.pk))
        return "ok"

    assert in_threads(8, deliver) == ["ok"] * 8
    payout.refresh_from_db()
    assert payout.approval == "approved" and send_jobs(payout).count() == 1
    assert [e.type for e in entries(payout)] == ["debit"] and ledger_check().ok
