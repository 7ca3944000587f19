"""Approval requests: impact, authority checks, quorum, escalation, expiry, callbacks, append-only hashed decisions."""
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit.immutable import AppendOnlyViolation
from audit.models import AuditEvent
from audit.services import audit_sequence
from core.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound
from governance.models import ApprovalDecision, ApprovalRequest, DecisionAuthority
from governance.selectors import approvals_decidable_by
from governance.services.approvals import (
    CALLBACK_JOB,
    approval_decide,
    approval_decision_options,
    approval_decisions_verify,
    approval_impact,
    approval_quorum,
    approval_request_create,
    approval_requests_expire,
)
from infrastructure.models import Job
from infrastructure.services.jobs import job_type
from tests.conftest import JobRunner

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]
WHY = "Checked the numbers against the contract."


def decide(request, user, decision="approved", justification=WHY, **extra):
    return approval_decide(request_id=request.pk, user=user, decision=decision, justification=justification,
                           ip="203.0.113.7", user_agent="pytest", **extra)


def run_callback_jobs():
    """What the worker does: claim the due callback jobs and run them (the shared ``run_jobs`` fixture's code)."""
    JobRunner()(CALLBACK_JOB)


@pytest.fixture
def approver(make_user, grant):
    user = make_user()
    grant(user, scopes=["test"], max_impact="high")
    return user


# --- impact and quorum --------------------------------------------------------------------------------------------

IMPACTS = [
    (0, None, "none"),
    (1, None, "low"),
    (99_999, None, "low"),
    (100_000, None, "medium"),
    (1_000_000, None, "high"),
    (10_000_000, None, "critical"),
    (0, 0.1, "none"),
    (0, 0.3, "low"),
    (500, 0.8, "high"),
    (100_000, 0.95, "critical"),
    (10_000_000, 0.0, "critical"),
]


@pytest.mark.parametrize(("amount", "risk", "impact"), IMPACTS)
def test_impact_is_the_higher_of_amount_and_risk_levels(amount, risk, impact):
    assert approval_impact(amount=amount, risk=risk) == impact


def test_impact_thresholds_and_quorum_are_configurable(settings):
    settings.APPROVAL_IMPACT_AMOUNTS = "10,20,30,40"
    settings.APPROVAL_QUORUM = "*.critical=2,test.high=3,test.critical=4"
    assert approval_impact(amount=35) == "high"
    assert approval_quorum(domain="test", impact="high") == 3
    assert approval_quorum(domain="test", impact="critical") == 4
    assert approval_quorum(domain="billing", impact="critical") == 2
    assert approval_quorum(domain="billing", impact="high") == 1


def test_a_request_fixes_impact_quorum_and_expiry_and_is_audited(request_factory, test_domain):
    request = request_factory(amount=20_000_000)
    assert (request.impact, request.required_impact, request.required_approvals) == ("critical", "critical", 2)
    assert request.callback == "test" and request.status == "pending"
    assert timedelta(hours=23) < request.expires_at - timezone.now() <= timedelta(hours=24)
    audit_sequence()
    assert AuditEvent.objects.get(type="APPROVAL_REQUESTED").target_id == request.pk


def test_an_explicit_impact_raises_but_never_lowers(request_factory):
    assert request_factory(amount=100, impact="high").impact == "high"
    assert request_factory(amount=5_000_000, impact="none").impact == "high"


def test_the_same_reference_returns_the_same_request(request_factory, test_domain):
    first = request_factory(reference="payout:1")
    again = request_factory(reference="payout:1", amount=1)
    assert again.pk == first.pk and ApprovalRequest.objects.count() == 1


@pytest.mark.parametrize(("change", "field"), [
    ({"domain": "Not A Domain"}, "domain"), ({"amount": -5}, "amount"), ({"amount": 1.5}, "amount"),
    ({"risk": 1.5}, "risk"), ({"impact": "huge"}, "impact"), ({"callback": "nobody"}, "callback"),
    ({"context": ["x"]}, "context"), ({"requested_by_type": "robot"}, "requested_by_type"),
])
def test_invalid_requests_are_refused(change, field):
    values = {"domain": "test", "action": "payout", "context": {}, "amount": 100}
    with pytest.raises(InvalidInput) as err:
        approval_request_create(**{**values, **change})
    assert field in err.value.fields
    assert not ApprovalRequest.objects.exists()


# --- who may decide -----------------------------------------------------------------------------------------------


def test_an_authority_approves_and_the_decision_is_recorded_and_audited(request_factory, approver, test_domain):
    request = request_factory()
    outcome = decide(request, approver)
    assert outcome.final and outcome.request.status == "approved" and outcome.approvals == 1
    row = ApprovalDecision.objects.get(request=request)
    assert (row.decided_by, row.decision, row.ip, row.user_agent, row.sequence) == (
        approver, "approved", "203.0.113.7", "pytest", 1)
    assert row.authority == DecisionAuthority.objects.get(user=approver)
    audit_sequence()
    types = list(AuditEvent.objects.filter(target_id=request.pk).order_by("sequence").values_list("type", flat=True))
    assert types == ["APPROVAL_REQUESTED", "APPROVAL_DECIDED", "APPROVAL_APPROVED"]


AUTHORITY_CASES = [
    # (scopes, max_impact, expires in, revoked, expected code)
    (["billing"], "critical", None, False, "authority_scope"),
    (["test"], "low", None, False, "authority_impact"),
    (["test"], "critical", -1, False, "authority_expired"),
    (["test"], "critical", None, True, "no_authority"),
    (["*"], "medium", None, False, None),
    (["test"], "medium", 60, False, None),
]


@pytest.mark.parametrize(("scopes", "impact", "expires", "revoked", "code"), AUTHORITY_CASES)
def test_authority_must_cover_the_domain_and_reach_the_impact(request_factory, make_user, grant, super_admin,
                                                              scopes, impact, expires, revoked, code):
    from governance.services.authorities import authority_revoke

    request = request_factory(amount=500_000)  # medium
    user = make_user()
    authority = grant(user, scopes=scopes, max_impact=impact)
    if expires is not None:
        DecisionAuthority.objects.filter(pk=authority.pk).update(
            expires_at=timezone.now() + timedelta(minutes=expires))
    if revoked:
        authority_revoke(authority_id=authority.pk, revoked_by=super_admin, reason="test revoke")
    if code is None:
        assert decide(request, user).final
        return
    with pytest.raises(Forbidden) as err:
        decide(request, user)
    assert err.value.code == code
    assert not ApprovalDecision.objects.exists()
    assert ApprovalRequest.objects.get(pk=request.pk).status == "pending"


def test_a_user_without_any_authority_is_refused(request_factory, make_user):
    with pytest.raises(Forbidden) as err:
        decide(request_factory(), make_user())
    assert err.value.code == "no_authority"


def test_the_requester_cannot_decide_their_own_request(request_factory, approver):
    request = request_factory(requested_by=approver)
    for decision in ("approved", "rejected"):
        with pytest.raises(Forbidden) as err:
            decide(request, approver, decision)
        assert err.value.code == "self_approval_forbidden"
    assert list(approvals_decidable_by(user=approver)) == []


@pytest.mark.parametrize(("decision", "justification", "field"), [
    ("approved", "too short", "justification"),
    ("approved", "          x         ", "justification"),
    ("maybe", WHY, "decision"),
])
def test_decisions_need_a_valid_choice_and_ten_characters_of_justification(request_factory, approver, decision,
                                                                           justification, field):
    with pytest.raises(InvalidInput) as err:
        decide(request_factory(), approver, decision, justification)
    assert field in err.value.fields


def test_an_unknown_request_is_404(approver):
    import uuid

    with pytest.raises(NotFound):
        approval_decide(request_id=uuid.uuid4(), user=approver, decision="approved", justification=WHY)
    with pytest.raises(NotFound):
        approval_decide(request_id="not-a-uuid", user=approver, decision="approved", justification=WHY)


def test_a_decided_request_answers_conflict(request_factory, approver, make_user, grant):
    request = request_factory()
    decide(request, approver, "rejected")
    other = make_user()
    grant(other, scopes=["test"], max_impact="high")
    with pytest.raises(Conflict) as err:
        decide(request, other)
    assert err.value.status == 409 and err.value.code == "approval_already_decided"
    assert ApprovalDecision.objects.filter(request=request).count() == 1


# --- quorum and escalation ----------------------------------------------------------------------------------------


@pytest.fixture
def critical_approvers(make_user, grant):
    people = [make_user() for _ in range(3)]
    for person in people:
        grant(person, scopes=["test"], max_impact="critical")
    return people


def test_critical_needs_two_distinct_authorities(request_factory, critical_approvers, test_domain):
    request = request_factory(amount=50_000_000)
    first = decide(request, critical_approvers[0])
    assert not first.final and (first.approvals, first.required_approvals) == (1, 2)
    assert ApprovalRequest.objects.get(pk=request.pk).status == "pending"
    with pytest.raises(Conflict) as err:
        decide(request, critical_approvers[0])
    assert err.value.code == "already_decided_by_you"
    assert list(approvals_decidable_by(user=critical_approvers[0])) == []
    assert list(approvals_decidable_by(user=critical_approvers[1])) == [request]
    second = decide(request, critical_approvers[1])
    assert second.final and second.request.status == "approved" and second.approvals == 2
    assert Job.objects.filter(type=CALLBACK_JOB).count() == 1


def test_one_rejection_rejects_even_after_an_approval(request_factory, critical_approvers):
    request = request_factory(amount=50_000_000)
    decide(request, critical_approvers[0])
    outcome = decide(request, critical_approvers[1], "rejected")
    assert outcome.final and outcome.request.status == "rejected"


def test_quorum_is_configurable_per_domain(settings, request_factory, make_user, grant):
    settings.APPROVAL_QUORUM = "*.critical=2,test.medium=3"
    request = request_factory(amount=500_000)
    assert request.required_approvals == 3
    people = [make_user() for _ in range(3)]
    for person in people:
        grant(person, scopes=["test"], max_impact="medium")
    assert [decide(request, p).final for p in people] == [False, False, True]


def test_escalation_moves_the_request_to_higher_authorities(request_factory, approver, critical_approvers):
    request = request_factory(amount=500_000)  # medium; the approver reaches high
    assert "escalated" in approval_decision_options(request=request, user=approver)
    outcome = decide(request, approver, "escalated")
    assert not outcome.final
    request.refresh_from_db()
    assert (request.status, request.impact, request.required_impact) == ("pending", "medium", "critical")
    assert list(approvals_decidable_by(user=approver)) == []
    with pytest.raises(Forbidden) as err:
        decide(request, approver)
    assert err.value.code == "authority_impact"
    assert decide(request, critical_approvers[0]).final  # the quorum follows impact (medium): one approval


def test_nothing_escalates_above_critical(request_factory, critical_approvers):
    request = request_factory(amount=500_000)
    assert approval_decision_options(request=request, user=critical_approvers[0]) == ["approved", "rejected"]
    with pytest.raises(InvalidInput) as err:
        decide(request, critical_approvers[0], "escalated")
    assert err.value.code == "cannot_escalate"
    assert not ApprovalDecision.objects.exists()


# --- expiry -------------------------------------------------------------------------------------------------------


def _age(request, seconds=1):
    ApprovalRequest.objects.filter(pk=request.pk).update(expires_at=timezone.now() - timedelta(seconds=seconds))


def test_the_expiry_job_expires_due_requests_and_the_work_stops(request_factory, approver, test_domain):
    due, later = request_factory(reference="p-due"), request_factory(reference="p-later")
    _age(due)
    assert approval_requests_expire() == 1
    assert ApprovalRequest.objects.get(pk=due.pk).status == "expired"
    assert ApprovalRequest.objects.get(pk=later.pk).status == "pending"
    run_callback_jobs()
    assert test_domain.reversed == ["p-due"] and test_domain.executed == []
    with pytest.raises(Gone):
        decide(due, approver)
    assert ApprovalRequest.objects.get(pk=due.pk).status == "expired"


def test_deciding_after_the_expiry_time_expires_it_even_before_the_job(request_factory, approver, test_domain):
    request = request_factory(reference="p-late")
    _age(request)
    assert list(approvals_decidable_by(user=approver)) == []
    with pytest.raises(Gone) as err:
        decide(request, approver)
    assert err.value.status == 410 and err.value.code == "approval_expired"
    assert ApprovalRequest.objects.get(pk=request.pk).status == "expired"
    assert not ApprovalDecision.objects.exists()
    with pytest.raises(Gone):  # final: nothing brings it back
        decide(request, approver)
    run_callback_jobs()
    assert test_domain.reversed == ["p-late"]


def test_the_expiry_job_registered_for_the_worker_runs_the_service(request_factory):
    from governance.services.approvals import EXPIRE_JOB

    request = request_factory()
    _age(request)
    job_type(EXPIRE_JOB).handler(Job(type=EXPIRE_JOB, payload={}))
    assert ApprovalRequest.objects.get(pk=request.pk).status == "expired"


# --- callbacks ----------------------------------------------------------------------------------------------------


def test_a_held_payout_is_executed_once_after_approval_even_if_delivered_twice(request_factory, approver,
                                                                               test_domain):
    request = request_factory(reference="payout-42")
    assert test_domain.calls == 0  # nothing happens while it waits
    decide(request, approver)
    (job,) = Job.objects.filter(type=CALLBACK_JOB)
    handler = job_type(CALLBACK_JOB).handler
    handler(job)
    handler(job)  # at-least-once delivery: the same job again
    assert test_domain.executed == ["payout-42"] and test_domain.reversed == [] and test_domain.calls == 1
    assert ApprovalRequest.objects.get(pk=request.pk).callback_delivered_at is not None


def test_a_held_payout_is_reversed_once_after_rejection(request_factory, approver, test_domain):
    request = request_factory(reference="payout-43")
    decide(request, approver, "rejected")
    run_callback_jobs()
    job_type(CALLBACK_JOB).handler(Job.objects.get(type=CALLBACK_JOB))
    assert test_domain.reversed == ["payout-43"] and test_domain.executed == [] and test_domain.calls == 1


def test_a_failing_callback_stays_undelivered_for_the_retry(request_factory, approver, test_domain, monkeypatch):
    request = request_factory(reference="payout-44")
    decide(request, approver)
    job = Job.objects.get(type=CALLBACK_JOB)
    calls = []

    def broken(req):
        calls.append(req.pk)
        raise RuntimeError("domain unavailable")

    monkeypatch.setattr(test_domain, "on_approved", broken)
    from governance.callbacks import register_approval_callback, unregister_approval_callback

    unregister_approval_callback("test")
    register_approval_callback("test", test_domain.on_approved, test_domain.on_rejected)
    with pytest.raises(RuntimeError):
        job_type(CALLBACK_JOB).handler(job)
    assert ApprovalRequest.objects.get(pk=request.pk).callback_delivered_at is None
    monkeypatch.undo()
    unregister_approval_callback("test")
    register_approval_callback("test", test_domain.on_approved, test_domain.on_rejected)
    job_type(CALLBACK_JOB).handler(job)
    assert calls == [request.pk] and test_domain.executed == ["payout-44"]


def test_requests_without_callbacks_enqueue_nothing(request_factory, approver):
    request = request_factory(domain="test")  # no callback registered for "test" in this test
    assert request.callback == ""
    decide(request, approver)
    assert not Job.objects.filter(type=CALLBACK_JOB).exists()


def test_a_request_names_another_registered_callback(request_factory, approver, test_domain, make_user, grant):
    other = make_user()
    grant(other, scopes=["ads"], max_impact="high")
    request = request_factory(domain="ads", callback="test", reference="agent-decision-1")
    decide(request, other)
    run_callback_jobs()
    assert test_domain.executed == ["agent-decision-1"]


# --- append-only and hashed ---------------------------------------------------------------------------------------


@pytest.fixture
def decided(request_factory, critical_approvers):
    request = request_factory(amount=50_000_000)
    decide(request, critical_approvers[0])
    decide(request, critical_approvers[1], "rejected", "Counterparty is on the watch list.")
    return request


def test_decision_hashes_verify(decided):
    report = approval_decisions_verify()
    assert report.ok and report.checked == 2, report.problems
    first, second = ApprovalDecision.objects.filter(request=decided).order_by("sequence")
    assert first.previous_hash == "0" * 64 and second.previous_hash == first.hash


def test_altering_the_request_breaks_the_hash(decided):
    ApprovalRequest.objects.filter(pk=decided.pk).update(amount=1)
    report = approval_decisions_verify()
    assert not report.ok
    assert report.problems[0].request_id == str(decided.pk)
    assert "hash does not match" in report.problems[0].detail
    assert "problem(s)" in report.summary()


@pytest.mark.parametrize("statement", [
    "UPDATE approval_decisions SET justification = 'rewritten later'",
    "DELETE FROM approval_decisions",
])
def test_the_database_refuses_update_and_delete(decided, statement):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert ApprovalDecision.objects.filter(request=decided).count() == 2


def test_django_refuses_update_and_delete(decided):
    row = ApprovalDecision.objects.filter(request=decided).first()
    row.justification = "changed"
    with pytest.raises(AppendOnlyViolation):
        row.save()
    with pytest.raises(AppendOnlyViolation):
        row.delete()
    with pytest.raises(AppendOnlyViolation):
        ApprovalDecision.objects.all().update(justification="x")


def test_the_verify_command_fails_on_a_tampered_request(decided):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("approvals_verify", stdout=out)
    assert "2 decisions verified" in out.getvalue()
    ApprovalRequest.objects.filter(pk=decided.pk).update(context={"amount": 1})
    with pytest.raises(CommandError, match="problem"):
        call_command("approvals_verify", stdout=StringIO(), stderr=StringIO())


@pytest.mark.postgres
def test_a_decision_rewritten_behind_the_triggers_is_found(decided):
    """Someone with superuser rights bypasses the triggers and edits a justification: the hash gives it away."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE approval_decisions SET justification = 'All fine, approved.' WHERE sequence = 2")
    report = approval_decisions_verify()
    assert [p.detail for p in report.problems] == [
        "hash does not match the decision's content (altered decision or request)"]
