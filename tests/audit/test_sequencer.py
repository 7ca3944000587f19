"""The sequencer on PostgreSQL with real concurrent connections: gap-free, nothing chained twice or left behind."""
import threading
import time
import uuid

import psycopg
import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from audit import services
from audit.models import AuditEvent, StagedEvent
from audit.services import audit_record, audit_sequence
from audit.verification import chain_verify

from .conftest import record, run_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _sequences() -> list[int]:
    return list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))


def test_eight_writers_on_their_own_connections_make_one_gap_free_chain(capsys):
    def writer(index: int) -> None:
        for i in range(500):
            with transaction.atomic():  # each event is its own service call
                audit_record("AUDIT_VERIFIED", action="write", metadata={"writer": index, "i": i})

    run_threads(8, writer)
    # Nothing calls the sequencer here: each writer's after-commit run (and the waiter it may hand over to) chained
    # everything, including events committed while another sequencer was finishing.
    assert _sequences() == list(range(1, 4001))
    assert not StagedEvent.objects.exists()
    assert AuditEvent.objects.values("id").distinct().count() == 4000
    call_command("audit_verify")  # exit 0: SystemExit would fail the test
    assert "intact: 4000 events" in capsys.readouterr().out


def test_several_sequencers_at_once_chain_each_event_exactly_once(settings):
    settings.AUDIT_SEQUENCE_ON_COMMIT = False
    with transaction.atomic():
        for i in range(2000):
            audit_record("AUDIT_VERIFIED", action="staged", metadata={"i": i})

    def sequencer(index: int) -> int:
        chained = 0
        while StagedEvent.objects.exists():
            chained += audit_sequence(batch_size=97)
        return chained

    counts = run_threads(4, sequencer)
    assert sum(counts) == 2000  # none repeated (and none skipped, below)
    assert _sequences() == list(range(1, 2001))
    assert chain_verify().ok


def _raw_connection() -> psycopg.Connection:
    params = connection.settings_dict
    return psycopg.connect(dbname=params["NAME"], user=params["USER"], host=params["HOST"] or "127.0.0.1",
                           port=params["PORT"] or 5432, password=params["PASSWORD"] or None, autocommit=False)


def test_an_event_committed_while_a_sequencer_finishes_is_chained_without_another_commit():
    """The lost wake-up: the committer cannot take the lock, yet its event must not wait for the next commit."""
    running = _raw_connection()  # plays a sequencer in the middle of its batch
    running.execute("SELECT pg_advisory_xact_lock(%s)", [services.SEQUENCER_LOCK_KEY])
    returned = {}

    def committer(name: str) -> None:
        with transaction.atomic():
            audit_record("AUDIT_VERIFIED", action=name)
        returned[name] = time.monotonic()  # after its on_commit sequencing attempt

    try:
        first = threading.Thread(target=run_threads, args=(1, lambda i: committer("first")))
        first.start()
        deadline = time.monotonic() + 10
        while not _waiter_taken() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _waiter_taken(), "the first committer should wait in line for the running sequencer"
        run_threads(1, lambda i: committer("second"))  # finds someone in line: returns at once
        assert "second" in returned and "first" not in returned
        assert StagedEvent.objects.count() == 2
    finally:
        running.rollback()  # the running sequencer finishes
        running.close()
    first.join(timeout=20)
    assert "first" in returned
    assert list(AuditEvent.objects.order_by("sequence").values_list("action", flat=True)) == ["first", "second"]
    assert not StagedEvent.objects.exists()


def _waiter_taken() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND granted",
                       [services.WAITER_LOCK_KEY])
        return cursor.fetchone()[0] > 0


def test_two_sequencers_that_ignore_the_lock_cannot_both_chain(settings):
    """The database is the second guard: a sequencer that skips the lock still cannot repeat or fork the chain."""
    settings.AUDIT_SEQUENCE_ON_COMMIT = False
    record(5)
    inside, release = threading.Event(), threading.Event()
    outcome = {}

    def first(index: int) -> None:
        with transaction.atomic():
            outcome["first"] = services._chain_batch(100)  # no lock taken
            inside.set()
            release.wait(10)

    def second(index: int) -> None:
        inside.wait(10)
        try:
            with transaction.atomic():
                outcome["second"] = services._chain_batch(100)  # same staged rows, same head
        except IntegrityError as exc:
            outcome["second"] = exc

    thread = threading.Thread(target=run_threads, args=(1, first))
    thread.start()
    inside.wait(10)
    other = threading.Thread(target=run_threads, args=(1, second))
    other.start()
    time.sleep(0.5)  # the second blocks on the first's uncommitted unique keys
    release.set()
    thread.join(20)
    other.join(20)
    assert outcome["first"] == 5
    assert isinstance(outcome["second"], IntegrityError)
    assert _sequences() == [1, 2, 3, 4, 5]
    assert not StagedEvent.objects.exists()
    assert chain_verify().ok


def test_audit_sequencer_command_chains_what_is_staged(settings, capsys):
    settings.AUDIT_SEQUENCE_ON_COMMIT = False
    record(7)
    call_command("audit_sequencer", "--once")
    assert _sequences() == list(range(1, 8))
    record(2)
    started = time.monotonic()
    call_command("audit_sequencer", "--max-seconds", "0.5", "--interval", "0.05")
    assert time.monotonic() - started < 5
    assert _sequences() == list(range(1, 10))
    assert "2 events chained" in capsys.readouterr().out


def test_the_periodic_task_chains_what_a_crashed_process_left(settings):
    from audit.tasks import audit_sequence_task

    settings.AUDIT_SEQUENCE_ON_COMMIT = False
    record(3, target_id=uuid.uuid4())
    assert audit_sequence_task.apply().get() == 3
    assert _sequences() == [1, 2, 3]
