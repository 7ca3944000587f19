"""Append-only tables: the model and queryset refuse first, the database refuses anyway."""
import uuid

import pytest
from django.db import DatabaseError, connection, transaction

from audit import chain, operations
from audit.immutable import AppendOnlyViolation, append_only_tables
from audit.models import AuditEvent

from .conftest import record


@pytest.fixture
def events(db, audit_log):
    record(3)
    return list(audit_log.events())


@pytest.mark.smoke
def test_model_and_queryset_guards_refuse_changes(events):
    event = events[0]
    event.reason = "edited"
    for attempt in (event.save, event.delete, AuditEvent.objects.all().delete,
                    lambda: AuditEvent.objects.update(reason="x"),
                    lambda: AuditEvent.objects.bulk_update(events, ["reason"]),
                    lambda: AuditEvent.objects.update_or_create(id=event.id, defaults={"reason": "x"})):
        with pytest.raises(AppendOnlyViolation, match="audit_events is append-only"):
            attempt()


@pytest.mark.smoke
@pytest.mark.parametrize("sql", ["UPDATE audit_events SET reason = 'edited' WHERE sequence = 2",
                                 "DELETE FROM audit_events WHERE sequence = 3"])
def test_the_database_refuses_update_and_delete(events, sql):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert AuditEvent.objects.count() == 3
    assert not AuditEvent.objects.filter(reason="edited").exists()


@pytest.mark.postgres
def test_postgresql_refuses_truncate(events):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE audit_events")
    assert AuditEvent.objects.count() == 3


@pytest.mark.smoke
def test_the_database_refuses_an_event_that_does_not_follow_the_head(events):
    head = events[-1]
    base = {"type": "AUDIT_VERIFIED", "action": "forged", "metadata": {}, "actor_type": "system"}
    for sequence, previous in ((head.sequence + 2, head.hash), (head.sequence + 1, "f" * 64),
                               (head.sequence, head.previous_hash), (1, chain.GENESIS_HASH)):
        with pytest.raises(DatabaseError), transaction.atomic():
            AuditEvent.objects.create(id=uuid.uuid4(), sequence=sequence, previous_hash=previous,
                                      hash=uuid.uuid4().hex * 2, **base)
    assert AuditEvent.objects.count() == 3


@pytest.mark.smoke
def test_every_append_only_model_is_listed():
    assert "audit_events" in append_only_tables()
    assert "audit_staging" not in append_only_tables()


@pytest.mark.smoke
@pytest.mark.django_db(transaction=True)
def test_the_operation_makes_any_table_append_only_and_reverses():
    vendor = connection.vendor
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE scratch_log (id integer PRIMARY KEY, note varchar(10))")
        try:
            for sql in operations.install_sql(vendor, "scratch_log"):
                cursor.execute(sql)
            cursor.execute("INSERT INTO scratch_log VALUES (1, 'a')")
            for sql in ("UPDATE scratch_log SET note = 'b'", "DELETE FROM scratch_log"):
                with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                    cursor.execute(sql)
            for sql in operations.remove_sql(vendor, "scratch_log"):
                cursor.execute(sql)
            cursor.execute("UPDATE scratch_log SET note = 'b'")
            cursor.execute("DELETE FROM scratch_log")
        finally:
            cursor.execute("DROP TABLE scratch_log")


@pytest.mark.smoke
@pytest.mark.django_db(transaction=True)
def test_only_the_suites_flush_empties_append_only_tables_and_the_triggers_stay():
    # The suite's database backends (tests/backends) let a transactional test's teardown flush them; nothing else.
    from django.core.management.color import no_style

    record(2)
    assert AuditEvent.objects.count() == 2
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    connection.ops.execute_sql_flush(connection.ops.sql_flush(no_style(), tables))
    assert AuditEvent.objects.count() == 0
    record(1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_events")
    assert AuditEvent.objects.count() == 1
