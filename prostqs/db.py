"""Prepared statements for the few SQL statements every request or posting runs.

Django keeps psycopg's statement preparation off (``prepare_threshold=None``, so that connection poolers in
transaction mode keep working) and binds parameters on the client, so PostgreSQL parses and plans each of those
statements again on every call. For the hottest fixed statements (the app credential lookup, the ledger posting)
planning costs as much as running them. ``prepared_cursor()`` gives a cursor that binds on the server and prepares
every statement it runs; psycopg keeps the prepared statements per connection (settings set the connection's
``prepare_threshold``, without which psycopg prepares nothing).

The cursor goes through Django's wrappers (query logging and counting, ``execute_wrapper`` hooks, error
translation, the connection health check) like ``connection.cursor()``. Set ``DB_PREPARED_STATEMENTS=false`` where
a pooler cannot carry prepared statements; other databases get a plain cursor.
"""
from __future__ import annotations

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.postgresql.base import TIMESTAMPTZ_OID, Format, ServerBindingCursor, register_tzloader
from django.db.backends.utils import CursorWrapper


class PreparedCursor(ServerBindingCursor):
    """Django's server-binding cursor, preparing every statement it runs."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


def _match_timezone(connection, cursor) -> None:
    """As Django's ``create_cursor``: the cursor's timestamps in the connection's time zone."""
    loader = connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
    if connection.timezone != loader.timezone:
        register_tzloader(connection.timezone, cursor)


def prepared_cursor(using: str = "default", *, connection: BaseDatabaseWrapper | None = None) -> CursorWrapper:
    """A cursor (use it as a context manager) whose statements PostgreSQL prepares once per connection: on
    ``connection`` if given (a caller that already looked it up), else on ``connections[using]``."""
    connection = connection or connections[using]
    if connection.vendor != "postgresql" or connection.settings_dict["OPTIONS"].get("prepare_threshold") is None:
        return connection.cursor()
    # What ``connection.cursor()`` does, with another cursor class on the same connection.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = PreparedCursor(connection.connection)
        _match_timezone(connection, cursor)
    connection.validate_thread_sharing()
    return connection.make_debug_cursor(cursor) if connection.queries_logged else connection.make_cursor(cursor)
