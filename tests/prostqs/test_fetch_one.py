"""``core.db.fetch_one``: the hot reads run prepared without a cursor where that is safe, give what a cursor
gives, and recover from their statements being deallocated."""
import datetime
import uuid
import zoneinfo

import pytest
from django.db import DataError, connection, connections, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from core.db import fetch_one, prepared_cursor

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SQL = ("SELECT %s::uuid, %s::text, %s::timestamptz, %s::jsonb, %s::bigint, NULL::timestamptz, "
       "%s::text IS NULL")
ID = uuid.uuid4()
PARAMS = [ID, "pq_pk_é", "2026-03-01 12:34:56.789+05:30", '{"a": [1, 2]}', 2**40, None]


def _ours() -> list[str]:
    """Statements ``fetch_one`` prepared on this connection (psycopg names its own ``_pg3_…``)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE '\\_prostqs\\_%%'")
        return [row[0] for row in cursor.fetchall()]


def test_it_gives_what_a_prepared_cursor_gives():
    with prepared_cursor() as cursor:
        cursor.execute(SQL, PARAMS)
        expected = cursor.fetchone()
    row = fetch_one(SQL, PARAMS, connection=connection)
    assert row == expected
    assert row[0] == ID
    assert row[2] == datetime.datetime(2026, 3, 1, 7, 4, 56, 789000, tzinfo=datetime.UTC)
    assert row[2].tzinfo is datetime.UTC
    assert row[3] == '{"a": [1, 2]}'  # Django loads jsonb as text; JSONField decodes it
    assert row[5] is None and row[6] is True


def test_no_row_is_none():
    assert fetch_one("SELECT 1 WHERE %s::text = 'x'", ["y"], connection=connection) is None


def test_in_autocommit_it_prepares_once_under_its_own_name():
    for value in ("a", "b", "c"):
        assert fetch_one("SELECT %s::text", [value], connection=connection) == (value,)
    assert len(_ours()) == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE name = %s", [_ours()[0]])
        assert cursor.fetchone()[0] == "SELECT $1::text"


def test_inside_a_transaction_it_uses_a_cursor():
    with transaction.atomic():
        assert fetch_one("SELECT %s::text", ["in"], connection=connection) == ("in",)
    assert _ours() == []


def test_a_statement_deallocated_behind_its_back_is_prepared_again():
    assert fetch_one("SELECT %s::int + 1", [1], connection=connection) == (2,)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    assert fetch_one("SELECT %s::int + 1", [2], connection=connection) == (3,)
    assert len(_ours()) == 1


def test_statements_prepared_after_a_deallocation_never_clash_with_those_prepared_again():
    """Statement 1 prepared; DEALLOCATE ALL; statement 2 prepared (on the server now); statement 1 finds itself
    gone and is prepared again: neither may take a name the server still holds. Fails if names are reused."""
    first, second = "SELECT %s::int + 10", "SELECT %s::int + 20"
    assert fetch_one(first, [1], connection=connection) == (11,)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    assert fetch_one(second, [1], connection=connection) == (21,)
    assert fetch_one(first, [2], connection=connection) == (12,)  # gone: prepared again
    for n in range(3, 6):  # and from now on each runs as prepared, alternately
        assert fetch_one(second, [n], connection=connection) == (20 + n,)
        assert fetch_one(first, [n], connection=connection) == (10 + n,)
    assert len(_ours()) == 2


def test_a_rollback_which_makes_psycopg_deallocate_everything_is_survived():
    from identity.models import User

    assert fetch_one("SELECT %s::int * 2", [4], connection=connection) == (8,)
    # psycopg deallocates every statement of the connection after a rollback if it prepared any of its own.
    with prepared_cursor() as cursor:
        cursor.execute("SELECT %s::int", [1])
    with pytest.raises(RuntimeError), transaction.atomic():
        User.objects.create_user()
        raise RuntimeError
    assert fetch_one("SELECT %s::int * 2", [5], connection=connection) == (10,)
    # Inside a transaction (a cursor does it) and after it, in autocommit again.
    with transaction.atomic():
        assert fetch_one("SELECT %s::int * 2", [6], connection=connection) == (12,)
    assert fetch_one("SELECT %s::int * 2", [7], connection=connection) == (14,)


def test_a_database_error_is_djangos_and_leaves_the_connection_usable():
    with pytest.raises(DataError):
        fetch_one("SELECT %s::int", ["not a number"], connection=connection)
    assert fetch_one("SELECT %s::int", ["41"], connection=connection) == (41,)


def test_logged_queries_are_counted_with_their_values():
    with CaptureQueriesContext(connection) as queries:
        fetch_one("SELECT %s::text, %s::int", ["logged", 7], connection=connection)
    assert len(queries) == 1
    assert queries[0]["sql"] == "SELECT 'logged'::text, 7::int"
    assert _ours()  # counted without a cursor: the statement is one of ours


def test_execute_wrappers_see_the_query():
    seen = []

    def wrapper(execute, sql, params, many, context):
        seen.append((sql, tuple(params)))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        assert fetch_one("SELECT %s::text", ["wrapped"], connection=connection) == ("wrapped",)
    assert seen == [("SELECT %s::text", ("wrapped",))]


def test_sql_with_another_percent_is_refused():
    with pytest.raises(ValueError, match="placeholders"):
        fetch_one("SELECT 5 %% 3, %s::int", [1], connection=connection)


def test_a_connection_in_another_time_zone_reads_in_its_zone():
    from core.backends.postgresql.base import DatabaseWrapper

    other = DatabaseWrapper({**connection.settings_dict, "TIME_ZONE": "America/Sao_Paulo"}, alias="other_zone")
    try:
        (value,) = fetch_one("SELECT %s::timestamptz", ["2026-03-01 12:00:00+00"], connection=other)
        assert value.tzinfo == zoneinfo.ZoneInfo("America/Sao_Paulo")
        assert value == datetime.datetime(2026, 3, 1, 12, tzinfo=datetime.UTC)
    finally:
        other.close()


def test_a_reopened_connection_gets_its_statements_prepared_again():
    assert fetch_one("SELECT %s::int - 1", [5], connection=connection) == (4,)
    first = connection.connection
    connection.close()
    assert fetch_one("SELECT %s::int - 1", [6], connection=connection) == (5,)
    assert connection.connection is not first
    assert len(_ours()) == 1


def test_without_time_zones_it_reads_as_a_cursor_does():
    with override_settings(USE_TZ=False):
        with prepared_cursor() as cursor:
            cursor.execute("SELECT %s::timestamptz", ["2026-03-01 12:00:00+00"])
            expected = cursor.fetchone()
        assert fetch_one("SELECT %s::timestamptz", ["2026-03-01 12:00:00+00"], connection=connection) == expected
        assert expected[0].tzinfo is None


def test_with_a_connection_pool_it_uses_a_cursor(monkeypatch):
    # Pool settings on this already open connection; psycopg_pool itself is not installed, so Django's pool lookup
    # answers that there is none to check connections back into.
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "pool", True)
    monkeypatch.setattr(type(connections["default"]), "pool", property(lambda self: None))
    assert fetch_one("SELECT %s::text", ["pooled"], connection=connection) == ("pooled",)
    assert _ours() == []


def test_a_connection_lost_mid_read_is_an_operational_error_and_is_replaced():
    from django.db import OperationalError

    from tests.prostqs.test_database import _backend_pid, _terminate

    assert fetch_one("SELECT %s::int", [1], connection=connection) == (1,)
    _terminate(_backend_pid())
    # The health check ran already in this "request": the read finds the connection gone.
    connection.health_check_done = True
    with pytest.raises(OperationalError):
        fetch_one("SELECT %s::int", [2], connection=connection)
    assert connection.errors_occurred
    # At the request's end Django drops the unusable connection; the next read opens another.
    connection.close_if_unusable_or_obsolete()
    assert fetch_one("SELECT %s::int", [3], connection=connection) == (3,)
