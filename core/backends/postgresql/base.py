"""Django's PostgreSQL backend (subclassed, as Django's documentation describes) with a health check that costs no
round trip, and psycopg's compiled timestamp loader.

With ``CONN_HEALTH_CHECKS`` Django checks a reused connection before its first query in each request by running
``SELECT 1``: one more round trip on every request, which on the app-authenticated reads cost about a quarter of
their throughput. A server that ends a connection (a restart, ``pg_terminate_backend``, an idle timeout) sends a
FATAL message and closes its end, so the socket of an idle connection becomes readable; one that is still open has
nothing to say between queries. ``is_usable`` therefore looks at the socket without waiting: nothing to read means
the server has not closed the connection; anything to read (or a connection not idle) falls back to Django's
``SELECT 1``, which decides. A silent network loss is no more visible to ``SELECT 1`` than to this check (both
wait for TCP to give up).

Django reads every ``timestamptz`` through a subclass of psycopg's pure-Python loader, so that each value carries
the connection's time zone object. That parses each timestamp in Python and builds a loader object per column of
every result. On the app-authenticated reads it was a tenth of the request's CPU. Django sets the session's
``TimeZone`` to the connection's time zone, and for UTC psycopg's own loader returns values with that very
``tzinfo`` (``datetime.timezone.utc``), so a connection in UTC reads timestamps with psycopg's loader, compiled
when psycopg comes with its C extension. Other time zones keep Django's loader. The loader is registered on the
connection through psycopg's adapters (its public API) and says its time zone as Django's loaders do, so that Django
sees no need to register its own on each cursor.
"""
from __future__ import annotations

import datetime
import select

import psycopg
from django.db.backends.postgresql.base import DatabaseWrapper as PostgreSQLDatabaseWrapper
from psycopg.pq import Format, TransactionStatus

TIMESTAMPTZ_OID = psycopg.adapters.types["timestamptz"].oid


class UTCTimestamptzLoader:
    """psycopg's default ``timestamptz`` text loader, registered under a class that says its time zone as Django's
    loaders do (``create_cursor`` compares it with the connection's)."""

    format = Format.TEXT
    timezone = datetime.UTC
    loader = psycopg.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)

    def __new__(cls, oid: int, context=None):
        return cls.loader(oid, context)


class DatabaseWrapper(PostgreSQLDatabaseWrapper):
    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        if self.timezone is datetime.UTC and self.timezone_name == "UTC":
            # The connection's own map (copied on write): other connections and Django's template are untouched.
            connection.adapters.register_loader(TIMESTAMPTZ_OID, UTCTimestamptzLoader)
        return connection

    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed:
            return False
        if connection.info.transaction_status == TransactionStatus.IDLE:
            try:
                readable, _, _ = select.select([connection.fileno()], [], [], 0)
            except (OSError, ValueError):
                return False
            if not readable:
                return True
        return super().is_usable()
