"""Append-only tables, enforced by the database itself.

``AppendOnly("table")`` is a migration operation that installs triggers refusing UPDATE and DELETE (and TRUNCATE
on PostgreSQL) on a table. Every app uses it for its immutable tables; reversing the migration removes them.
"""
from __future__ import annotations

from django.db import NotSupportedError, migrations

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION prostqs_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;
"""


def install_sql(vendor: str, table: str) -> list[str]:
    if vendor == "postgresql":
        return [
            PG_FUNCTION,
            f'CREATE TRIGGER "{table}_append_only" BEFORE UPDATE OR DELETE ON "{table}" '
            f"FOR EACH ROW EXECUTE FUNCTION prostqs_refuse_change();",
            f'CREATE TRIGGER "{table}_no_truncate" BEFORE TRUNCATE ON "{table}" '
            f"FOR EACH STATEMENT EXECUTE FUNCTION prostqs_refuse_change();",
        ]
    if vendor == "sqlite":
        return [
            f'CREATE TRIGGER "{table}_no_update" BEFORE UPDATE ON "{table}" '
            f"BEGIN SELECT RAISE(ABORT, 'table {table} is append-only: UPDATE refused'); END;",
            f'CREATE TRIGGER "{table}_no_delete" BEFORE DELETE ON "{table}" '
            f"BEGIN SELECT RAISE(ABORT, 'table {table} is append-only: DELETE refused'); END;",
        ]
    raise NotSupportedError(f"append-only triggers are not written for {vendor}")


def remove_sql(vendor: str, table: str) -> list[str]:
    if vendor == "postgresql":
        return [f'DROP TRIGGER IF EXISTS "{table}_append_only" ON "{table}";',
                f'DROP TRIGGER IF EXISTS "{table}_no_truncate" ON "{table}";']
    if vendor == "sqlite":
        return [f'DROP TRIGGER IF EXISTS "{table}_no_update";', f'DROP TRIGGER IF EXISTS "{table}_no_delete";']
    raise NotSupportedError(f"append-only triggers are not written for {vendor}")


class AppendOnly(migrations.operations.base.Operation):
    """Refuse UPDATE, DELETE and (PostgreSQL) TRUNCATE on ``table`` in the database."""

    reversible = True
    reduces_to_sql = True

    def __init__(self, table: str) -> None:
        self.table = table

    def state_forwards(self, app_label, state) -> None:
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        for sql in install_sql(schema_editor.connection.vendor, self.table):
            schema_editor.execute(sql, params=None)

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        for sql in remove_sql(schema_editor.connection.vendor, self.table):
            schema_editor.execute(sql, params=None)

    def describe(self) -> str:
        return f"Make {self.table} append-only in the database"

    @property
    def migration_name_fragment(self) -> str:
        return f"{self.table}_append_only"

    def deconstruct(self):
        return (self.__class__.__qualname__, [self.table], {})
