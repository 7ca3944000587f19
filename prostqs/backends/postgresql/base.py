"""Django's PostgreSQL backend with a health check that costs no round trip (and the SQL text of prepared
statements in Django's query log).

With ``CONN_HEALTH_CHECKS`` Django checks a reused connection before its first query in each request by running
``SELECT 1``: one more round trip on every request, which on the app-authenticated reads cost about a quarter of
their throughput. A server that ends a connection (a restart, ``pg_terminate_backend``, an idle timeout) sends a
FATAL message and closes its end, so the socket of an idle connection becomes readable; one that is still open has
nothing to say between queries. ``is_usable`` therefore looks at the socket without waiting: nothing to read means
the server has not closed the connection; anything to read (or a connection not idle) falls back to Django's
``SELECT 1``, which decides. A silent network loss is no more visible to ``SELECT 1`` than to this check (both
wait for TCP to give up).
"""
from __future__ import annotations

import select

import psycopg
from django.db.backends.postgresql.base import DatabaseWrapper as PostgreSQLDatabaseWrapper
from django.db.backends.postgresql.operations import DatabaseOperations as PostgreSQLDatabaseOperations
from psycopg.pq import TransactionStatus


class DatabaseOperations(PostgreSQLDatabaseOperations):
    def last_executed_query(self, cursor, sql, params):
        """Django reads the client-bound query text off its own cursors; the prepared ones (prostqs.db) bind on the
        server, so their text is composed as Django does for connections that bind on the server."""
        if isinstance(cursor, psycopg.ClientCursor):
            return super().last_executed_query(cursor, sql, params)
        try:
            return self.compose_sql(sql, params)
        except psycopg.errors.DataError:
            return None


class DatabaseWrapper(PostgreSQLDatabaseWrapper):
    ops_class = DatabaseOperations

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
