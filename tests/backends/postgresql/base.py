"""The project's PostgreSQL backend (``core.backends.postgresql``) with a flush that passes the append-only triggers
(see ``tests.backends``)."""
from __future__ import annotations

from core.backends.postgresql.base import DatabaseWrapper as ProjectDatabaseWrapper


class DatabaseOperations(ProjectDatabaseWrapper.ops_class):
    def execute_sql_flush(self, sql_list):
        # SET LOCAL: for the flush's own transaction only (Django runs the flush in one).
        return super().execute_sql_flush(["SET LOCAL session_replication_role = replica", *sql_list])


class DatabaseWrapper(ProjectDatabaseWrapper):
    ops_class = DatabaseOperations
