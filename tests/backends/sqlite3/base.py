"""Django's SQLite backend with a flush that passes the append-only triggers (see ``tests.backends``)."""
from __future__ import annotations

from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteDatabaseWrapper
from django.db.backends.sqlite3.operations import DatabaseOperations as SQLiteDatabaseOperations


class DatabaseOperations(SQLiteDatabaseOperations):
    def execute_sql_flush(self, sql_list):
        from audit.immutable import append_only_tables
        from audit.operations import install_sql, remove_sql

        tables = append_only_tables()
        before = [sql for table in tables for sql in remove_sql("sqlite", table)]
        after = [sql for table in tables for sql in install_sql("sqlite", table)]
        return super().execute_sql_flush([*before, *sql_list, *after])


class DatabaseWrapper(SQLiteDatabaseWrapper):
    ops_class = DatabaseOperations
