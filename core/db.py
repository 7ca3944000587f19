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

``fetch_one()`` runs one such read (the credential lookup behind every app request) and returns its first row. A
cursor costs more than the statement: creating it, Django's cursor wrappers and psycopg's execution machinery were
three quarters of the 234,000 instructions the lookup spent, the libpq round trip itself 29,000 (counted with
callgrind). Where nothing needs a cursor (the connection in autocommit, between transactions, as on an app read;
no ``execute_wrapper`` hooks, no connection pool) it prepares the statement once per connection under a name of
its own and runs it through psycopg's libpq binding, dumping the parameters and loading the row with psycopg's own
``Transformer`` (the connection's adapters, so values are what a cursor gives). Django's parts stay: the health
check, the broken transaction check, error translation, and the query log when queries are logged
(``assertNumQueries``, DEBUG). Anything else goes through ``prepared_cursor()``.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.postgresql.base import TIMESTAMPTZ_OID, Format, ServerBindingCursor, register_tzloader
from django.db.backends.utils import CursorWrapper
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq import ConnStatus, ExecStatus, TransactionStatus

logger = logging.getLogger("django.db.backends")


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


# SQLSTATE of "prepared statement does not exist" (DEALLOCATE or DISCARD ALL ran on the connection).
_UNDEFINED_STATEMENT = "26000"


class _Prepared:
    """What ``fetch_one`` prepared on one psycopg connection: statement names by SQL text and parameter types."""

    __slots__ = ("names", "prepared", "raw", "timezone")

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.raw = connection.connection
        self.names: dict[tuple[str, tuple[int, ...]], bytes] = {}
        # Statements prepared so far on this connection, forgotten or not: each gets a name never used before on it
        # (a name given again could still be taken on the server, by one prepared after a DEALLOCATE ALL).
        self.prepared = 0
        # A cursor loads timestamps in the connection's time zone (``_match_timezone``); rows loaded without one
        # get the zone of the connection's own loader, which must be the same.
        loader = self.raw.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
        self.timezone = getattr(loader, "timezone", None)


def _server_placeholders(sql: str) -> bytes:
    """``%s`` placeholders as PostgreSQL's ``$1``, ``$2``…; the statements given here have no other ``%``."""
    parts = sql.split("%s")
    if any("%" in part for part in parts):
        raise ValueError("fetch_one() takes SQL whose only % are %s placeholders")
    return "".join(part + (f"${i}" if i < len(parts) else "") for i, part in enumerate(parts, start=1)).encode()


def _lean_state(connection: BaseDatabaseWrapper) -> _Prepared | None:
    """The connection's ``_Prepared`` if ``fetch_one`` can run without a cursor now, else None."""
    if connection.execute_wrappers:
        return None
    raw = connection.connection
    # Only in autocommit, between transactions: a cursor's first statement in a transaction makes psycopg begin it,
    # and psycopg deallocates every prepared statement of the connection after a rollback (``DEALLOCATE ALL``), which
    # a statement of ours finds out only by failing: in autocommit it is then prepared again, in a transaction the
    # failure would abort it.
    if not (raw.autocommit and raw.pgconn.transaction_status == TransactionStatus.IDLE):
        return None
    state = connection.__dict__.get("_prostqs_prepared")
    if state is None or state.raw is not raw:
        state = connection.__dict__["_prostqs_prepared"] = _Prepared(connection)
    return state if connection.timezone == state.timezone else None


def _error(raw: psycopg.Connection, result: psycopg.pq.abc.PGresult) -> psycopg.Error:
    """The error a failed result stands for: as a cursor raises it, ``OperationalError`` for a lost connection
    (whose result carries no SQLSTATE)."""
    if raw.pgconn.status == ConnStatus.BAD:
        message = raw.pgconn.get_error_message(raw.info.encoding) or "the connection was lost"
        return psycopg.OperationalError(f"consuming input failed: {message}")
    return psycopg.errors.error_from_result(result, encoding=raw.info.encoding)


def _execute(state: _Prepared, sql: str, params: Sequence[Any]) -> Transformer:
    """Run ``sql`` prepared; the ``Transformer`` holding its result (raises the error PostgreSQL answered)."""
    raw = state.raw
    pgconn = raw.pgconn
    tx = Transformer(raw)
    values = tx.dump_sequence(params, [PyFormat.AUTO] * len(params))
    key = (sql, tuple(tx.types))
    retried = False
    while True:
        name = state.names.get(key)
        if name is None:
            state.prepared += 1
            name = f"_prostqs_{state.prepared}".encode()
            result = pgconn.prepare(name, _server_placeholders(sql), tx.types)
            if result.status != ExecStatus.COMMAND_OK:
                raise _error(raw, result)
            state.names[key] = name
        result = pgconn.exec_prepared(name, values, tx.formats)
        if result.status == ExecStatus.TUPLES_OK:
            tx.set_pgresult(result)
            return tx
        error = _error(raw, result)
        # A statement deallocated behind our back (autocommit: no transaction was aborted) is prepared again, under
        # a new name. Only this one is forgotten: others may have been prepared since the DEALLOCATE ALL, and each
        # of those deallocated finds out the same way on its next run.
        if not retried and error.sqlstate == _UNDEFINED_STATEMENT:
            del state.names[key]
            retried = True
            continue
        raise error


def fetch_one(sql: str, params: Sequence[Any], *, connection: BaseDatabaseWrapper) -> tuple | None:
    """The first row of the read ``sql`` (``%s`` placeholders, no other ``%``) with ``params``, run as a statement
    PostgreSQL prepares once per connection; None if it returns no row. See the module's docstring."""
    options = connection.settings_dict["OPTIONS"]
    # With a connection pool the statements would live in a database session other wrappers reuse.
    if connection.vendor != "postgresql" or options.get("prepare_threshold") is None or options.get("pool"):
        return _fetch_one_with_cursor(sql, params, connection)
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    connection.validate_no_broken_transaction()
    state = _lean_state(connection)
    if state is None:
        return _fetch_one_with_cursor(sql, params, connection)
    logged = connection.queries_logged
    start = time.monotonic() if logged else 0.0
    try:
        with connection.wrap_database_errors:
            tx = _execute(state, sql, params)
            result = tx.pgresult
            return tx.load_row(0, tuple) if result.ntuples else None
    finally:
        if logged:
            duration = time.monotonic() - start
            # The backend's composition (None where a value cannot be shown in SQL), never raising over the error.
            text = connection.ops.last_executed_query(None, sql, params) or sql
            connection.queries_log.append({"sql": text, "time": f"{duration:.3f}"})
            logger.debug("(%.3f) %s; args=%s; alias=%s", duration, text, params, connection.alias,
                         extra={"duration": duration, "sql": text, "params": params, "alias": connection.alias})


def _fetch_one_with_cursor(sql: str, params: Sequence[Any], connection: BaseDatabaseWrapper) -> tuple | None:
    with prepared_cursor(connection=connection) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()
