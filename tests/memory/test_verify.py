"""``memory_verify``: an intact set of chains passes; a transition rewritten behind the triggers, a removed one, or
a lifecycle state changed outside the service is found and named. And two connections racing on one lifecycle."""
import threading
import time
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction

from audit.operations import install_sql, remove_sql
from core.errors import Conflict
from memory.models import DecisionLifecycle, LifecycleTransition
from memory.services import LifecycleSpec, lifecycle_open, lifecycle_transition, verify_lifecycle_chains


def tamper(sql, params=()):
    """Change lifecycle_transitions behind the triggers' back, as someone with database superuser rights could."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute(sql, params)
        else:
            for statement in remove_sql("sqlite", "lifecycle_transitions"):
                cursor.execute(statement)
            cursor.execute(sql, params)
            for statement in install_sql("sqlite", "lifecycle_transitions"):
                cursor.execute(statement)


@pytest.fixture
def chains(open_lifecycle):
    made = []
    for _ in range(3):
        lifecycle = open_lifecycle()
        lifecycle_transition(decision_id=lifecycle.decision_id, to_state="under_review", triggered_by_type="time",
                             reason="periodic review due")
        lifecycle_transition(decision_id=lifecycle.decision_id, to_state="revoked", triggered_by_type="system",
                             reason="no longer wanted")
        made.append(lifecycle)
    return made


@pytest.mark.django_db
def test_intact_chains_verify(chains):
    report = verify_lifecycle_chains()
    assert report.ok and report.checked == 9 and report.lifecycles == 3
    out = StringIO()
    call_command("memory_verify", stdout=out)
    assert "9 transitions of 3 decisions verified" in out.getvalue()


@pytest.mark.django_db
def test_the_database_refuses_to_change_a_transition(chains):
    from django.db import DatabaseError

    row = LifecycleTransition.objects.filter(sequence=2).first()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE lifecycle_transitions SET reason = 'x' WHERE id = %s", [row.pk.hex
                       if connection.vendor == "sqlite" else str(row.pk)])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM lifecycle_transitions")


@pytest.mark.django_db
def test_a_reason_rewritten_behind_the_triggers_is_found_and_named(chains):
    target = LifecycleTransition.objects.get(decision_id=chains[1].decision_id, sequence=2)
    pk = target.pk.hex if connection.vendor == "sqlite" else str(target.pk)
    tamper("UPDATE lifecycle_transitions SET reason = 'nothing to see here' WHERE id = %s", [pk])
    report = verify_lifecycle_chains()
    assert not report.ok
    assert report.problems[0].startswith(f"transition {target.pk} (decision {chains[1].decision_id}, sequence 2)")
    assert "content altered" in report.problems[0]
    err = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("memory_verify", stdout=StringIO(), stderr=err)
    assert str(target.pk) in err.getvalue() and "problem" in str(caught.value)


@pytest.mark.django_db
def test_a_removed_transition_is_found(chains):
    target = LifecycleTransition.objects.get(decision_id=chains[0].decision_id, sequence=2)
    pk = target.pk.hex if connection.vendor == "sqlite" else str(target.pk)
    tamper("DELETE FROM lifecycle_transitions WHERE id = %s", [pk])
    problems = verify_lifecycle_chains().problems
    assert "sequence 3, expected 2 (a transition is missing)" in problems[0]


@pytest.mark.django_db
def test_a_state_changed_outside_the_service_is_found(chains):
    DecisionLifecycle.objects.filter(pk=chains[2].pk).update(state="active")
    problems = verify_lifecycle_chains().problems
    assert problems == [f"lifecycle of decision {chains[2].decision_id}: state 'active' but its chain ends at "
                        f"'revoked' (state changed outside the transition service)"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_connections_transition_one_lifecycle_exactly_one_wins():
    """Both read an active lifecycle and try to end it (revoked vs expired) at once: the row lock lets one through;
    the other re-reads the new state under the lock and is refused. The chain stays valid."""
    decision_id = uuid.uuid4()
    with transaction.atomic():
        lifecycle_open(LifecycleSpec(decision_id=decision_id, decision_type="approval", domain="ads",
                                     action="pause_campaign"))
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(to_state: str, trigger: str) -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                lifecycle_transition(decision_id=decision_id, to_state=to_state, triggered_by_type=trigger,
                                     reason=f"racing to {to_state}")
                time.sleep(0.3)  # hold the lock while the other connection waits for it
            outcomes.append(to_state)
        except Conflict as exc:
            outcomes.append(exc.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=("revoked", "system")),
               threading.Thread(target=attempt, args=("expired", "time"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 2 and outcomes.count("illegal_transition") == 1
    (winner,) = [o for o in outcomes if o != "illegal_transition"]
    assert DecisionLifecycle.objects.get(decision_id=decision_id).state == winner
    assert list(LifecycleTransition.objects.filter(decision_id=decision_id).order_by("sequence")
                .values_list("to_state", flat=True)) == ["active", winner]
    report = verify_lifecycle_chains()
    assert report.ok and report.checked == 2


@pytest.mark.django_db
def test_a_lifecycle_without_transitions_is_found_between_others(chains):
    from django.utils import timezone

    orphans = [DecisionLifecycle.objects.create(decision_id=uuid.uuid4(), decision_type="approval", domain="ads",
                                                action="pause_campaign", expiration_type="review_required",
                                                updated_at=timezone.now()) for _ in range(4)]
    report = verify_lifecycle_chains(batch_size=2)
    assert report.checked == 9 and report.lifecycles == 7
    assert sorted(report.problems) == sorted(f"lifecycle of decision {o.decision_id}: no transitions"
                                             for o in orphans)
