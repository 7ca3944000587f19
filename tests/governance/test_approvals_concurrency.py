"""Concurrent deciders on real PostgreSQL connections: one decision wins, the rest get 409."""
import threading

import pytest
from django.db import connections

from core.errors import Conflict
from governance.models import ApprovalDecision, ApprovalRequest
from governance.services.approvals import CALLBACK_JOB, approval_decide, approval_decisions_verify
from infrastructure.models import Job
from infrastructure.services.jobs import job_type

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(functions):
    """Run each function in its own thread and connection, released together; return results or exceptions."""
    barrier = threading.Barrier(len(functions))
    results = [None] * len(functions)

    def run(index, fn):
        try:
            barrier.wait(timeout=10)
            results[index] = fn()
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread raised
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(functions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def deciders(make_user, grant, count, impact):
    people = [make_user() for _ in range(count)]
    for person in people:
        grant(person, scopes=["test"], max_impact=impact)
    return people


def decide_fn(request, user, decision="approved"):
    return lambda: approval_decide(request_id=request.pk, user=user, decision=decision,
                                   justification="Concurrent decision under test.")


def test_concurrent_deciders_only_one_decides(request_factory, make_user, grant, test_domain):
    request = request_factory(reference="race-1")
    people = deciders(make_user, grant, 6, "high")
    results = race([decide_fn(request, p, "approved" if i % 2 else "rejected") for i, p in enumerate(people)])
    winners = [r for r in results if not isinstance(r, Exception)]
    losers = [r for r in results if isinstance(r, Exception)]
    assert len(winners) == 1 and winners[0].final
    assert all(isinstance(e, Conflict) and e.code == "approval_already_decided" for e in losers), losers
    assert ApprovalDecision.objects.filter(request=request).count() == 1
    assert ApprovalRequest.objects.get(pk=request.pk).status == winners[0].decision.decision
    assert Job.objects.filter(type=CALLBACK_JOB).count() == 1
    assert approval_decisions_verify().ok


def test_concurrent_quorum_approves_exactly_once(request_factory, make_user, grant, test_domain):
    request = request_factory(amount=50_000_000, reference="race-2")  # critical: two approvals
    people = deciders(make_user, grant, 5, "critical")
    results = race([decide_fn(request, p) for p in people])
    outcomes = [r for r in results if not isinstance(r, Exception)]
    assert sorted(o.final for o in outcomes) == [False, True]
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, Exception))
    assert ApprovalRequest.objects.get(pk=request.pk).status == "approved"
    assert list(ApprovalDecision.objects.filter(request=request).order_by("sequence")
                .values_list("sequence", flat=True)) == [1, 2]
    assert Job.objects.filter(type=CALLBACK_JOB).count() == 1
    assert approval_decisions_verify().ok


def test_concurrent_callback_deliveries_apply_once(request_factory, make_user, grant, test_domain):
    request = request_factory(reference="race-3")
    (person,) = deciders(make_user, grant, 1, "high")
    approval_decide(request_id=request.pk, user=person, decision="approved", justification="Approved under test.")
    job = Job.objects.get(type=CALLBACK_JOB)
    handler = job_type(CALLBACK_JOB).handler
    results = race([lambda: handler(job) for _ in range(4)])
    assert not [r for r in results if isinstance(r, Exception)]
    assert test_domain.executed == ["race-3"] and test_domain.calls == 1
