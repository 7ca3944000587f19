"""The PostgreSQL backend's health check: a connection the server ended is replaced before it fails a request,
and a live one is kept without a round trip."""
import select
import time

import psycopg
import pytest
from django.core.signals import request_finished, request_started
from django.db import connection

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
    assert connection.settings_dict["ENGINE"] == "prostqs.backends.postgresql"
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
