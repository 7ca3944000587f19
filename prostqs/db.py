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
from django.db.backends.utils import CursorWrapper


def _prepared_cursor_class() -> type:
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparedCursor(ServerBindingCursor):
        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=True, binary=binary)

    return PreparedCursor


_cursor_class: type | None = None


def _match_timezone(connection, cursor) -> None:
    """As Django's ``create_cursor``: the cursor's timestamps in the connection's time zone."""
    from django.db.backends.postgresql.base import TIMESTAMPTZ_OID, Format, register_tzloader

    loader = connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
    if connection.timezone != loader.timezone:
        register_tzloader(connection.timezone, cursor)


def prepared_cursor(using: str = "default") -> CursorWrapper:
    """A cursor (use it as a context manager) whose statements PostgreSQL prepares once per connection."""
    global _cursor_class
    connection = connections[using]
    if connection.vendor != "postgresql" or connection.settings_dict["OPTIONS"].get("prepare_threshold") is None:
        return connection.cursor()
    if _cursor_class is None:
        _cursor_class = _prepared_cursor_class()
    # What ``connection.cursor()`` does, with another cursor class on the same connection.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = _cursor_class(connection.connection)
        _match_timezone(connection, cursor)
    connection.validate_thread_sharing()
    return connection.make_debug_cursor(cursor) if connection.queries_logged else connection.make_cursor(cursor)
