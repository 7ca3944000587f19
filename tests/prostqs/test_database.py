"""The PostgreSQL backend's health check: a connection the server ended is replaced before it fails a request,
and a live one is kept without a round trip."""
import datetime
import select
import time
import zoneinfo

import psycopg
import pytest
from django.core.signals import request_finished, request_started
from django.db import connection
from psycopg.pq import Format

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _request_cycle() -> int:
    """What Django does around a request (old connections closed, health check armed), then one query."""
    request_started.send(sender=None)
    try:
        return _backend_pid()
    finally:
        request_finished.send(sender=None)


def _terminate(pid: int) -> None:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_the_backend_is_ours_with_health_checks_on():
    from django.db import connections

    from core.backends.postgresql.base import DatabaseWrapper
    from prostqs import settings as project

    assert project.DATABASES["default"]["ENGINE"] == "core.backends.postgresql"
    # The suite's backend (tests/backends/postgresql) extends it.
    assert isinstance(connections["default"], DatabaseWrapper)
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True


def test_a_live_connection_is_kept_across_requests():
    first = _request_cycle()
    assert connection.is_usable()
    assert _request_cycle() == first


def test_a_connection_the_server_ended_is_replaced_before_the_next_query():
    first = _request_cycle()
    _terminate(first)
    # The server's FATAL message and its close arrive on the idle socket.
    select.select([connection.connection.fileno()], [], [], 5)
    assert not connection.is_usable()
    second = _request_cycle()
    assert second != first
    assert connection.is_usable()


def test_a_connection_with_a_notice_waiting_is_still_usable():
    """Anything readable sends the check to SELECT 1, which decides: a live connection with a message waiting
    (here a notification on a channel it listens to) is kept."""
    pid = _request_cycle()
    with connection.cursor() as cursor:
        cursor.execute("LISTEN prostqs_health_check_test")
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("NOTIFY prostqs_health_check_test")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not select.select([connection.connection.fileno()], [], [], 0.1)[0]:
        pass
    assert connection.is_usable()
    assert _request_cycle() == pid
    with connection.cursor() as cursor:
        cursor.execute("UNLISTEN *")


def _timestamptz_loader(adapters):
    from core.backends.postgresql.base import TIMESTAMPTZ_OID

    return adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)


def test_a_utc_connection_reads_timestamps_with_psycopgs_own_loader_and_no_cursor_replaces_it():
    from core.backends.postgresql.base import TIMESTAMPTZ_OID, UTCTimestamptzLoader

    connection.ensure_connection()
    assert _timestamptz_loader(connection.connection.adapters) is UTCTimestamptzLoader
    default = psycopg.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
    assert type(UTCTimestamptzLoader(TIMESTAMPTZ_OID, connection.connection)) is default
    with connection.cursor() as cursor:
        # Django's create_cursor registers its own loader on a cursor whose connection disagrees on the zone.
        assert _timestamptz_loader(cursor.cursor.adapters) is UTCTimestamptzLoader
    # Django's template (other connections, other settings) is untouched.
    assert _timestamptz_loader(psycopg.adapters) is default


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-01 12:34:56.789012+05:30",
        "1999-12-31 23:59:59-03",
        "0001-01-01 00:00:00+00",
        "9999-12-31 23:59:59.999999+00",
    ],
)
def test_timestamps_read_on_a_utc_connection_are_the_same_instants_in_utc(text):
    expected = datetime.datetime.fromisoformat(text).astimezone(datetime.UTC)
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::timestamptz, NULL::timestamptz", [text])
        value, null = cursor.fetchone()
    assert value == expected
    assert value.tzinfo is datetime.UTC
    assert null is None


def test_orm_datetimes_come_back_aware_in_utc():
    from identity.models import User

    moment = datetime.datetime(2026, 7, 4, 9, 15, 30, 123456, tzinfo=zoneinfo.ZoneInfo("America/Sao_Paulo"))
    user = User.objects.create_user(created_at=moment)
    loaded = User.objects.get(pk=user.pk)
    assert loaded.created_at == moment
    assert loaded.created_at.tzinfo is datetime.UTC
    assert loaded.last_login is None
    assert User.objects.filter(pk=user.pk).values_list("created_at", flat=True).get().tzinfo is datetime.UTC


def test_a_connection_in_another_time_zone_keeps_djangos_loader():
    from core.backends.postgresql.base import DatabaseWrapper, UTCTimestamptzLoader

    other = DatabaseWrapper({**connection.settings_dict, "TIME_ZONE": "America/Sao_Paulo"}, alias="other_zone")
    try:
        other.ensure_connection()
        loader = _timestamptz_loader(other.connection.adapters)
        assert loader is not UTCTimestamptzLoader
        assert loader.timezone == zoneinfo.ZoneInfo("America/Sao_Paulo")
        with other.cursor() as cursor:
            cursor.execute("SELECT %s::timestamptz", ["2026-03-01 12:00:00+00"])
            (value,) = cursor.fetchone()
        assert value.tzinfo == zoneinfo.ZoneInfo("America/Sao_Paulo")
        assert value == datetime.datetime(2026, 3, 1, 12, tzinfo=datetime.UTC)
    finally:
        other.close()
