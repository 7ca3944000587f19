"""Append-only tables, enforced by the database itself.

``AppendOnly("table")`` is a migration operation that installs triggers refusing UPDATE and DELETE (and TRUNCATE
on PostgreSQL) on a table, and on PostgreSQL takes those privileges from every role but the table's owner (the
application role keeps SELECT and INSERT; see ``prostqs.dbroles``). Every app uses it for its immutable tables;
reversing the migration removes the triggers.
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


def revoke_writes_sql(table: str) -> str:
    """PostgreSQL: take UPDATE, DELETE and TRUNCATE on ``table`` from every role but its owner (PUBLIC included).

    A table created after ``db_roles`` ran gets the application role's default privileges, UPDATE and DELETE
    among them; this takes them back from an append-only table in the migration that creates it, whatever the
    roles are called. The owner keeps them: it runs migrations, and the triggers refuse it too.
    """
    return f"""
DO $$
DECLARE holder text;
BEGIN
    FOR holder IN
        SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END
        FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid = '"{table}"'::regclass AND a.grantee <> c.relowner
          AND a.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')
    LOOP
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %s FROM %s', '"{table}"'::regclass, holder);
    END LOOP;
END $$;
"""  # noqa: S608 - the table name is a model's db_table, never input


def install_sql(vendor: str, table: str) -> list[str]:
    if vendor == "postgresql":
        return [
            PG_FUNCTION,
            f'CREATE TRIGGER "{table}_append_only" BEFORE UPDATE OR DELETE ON "{table}" '
            f"FOR EACH ROW EXECUTE FUNCTION prostqs_refuse_change();",
            f'CREATE TRIGGER "{table}_no_truncate" BEFORE TRUNCATE ON "{table}" '
            f"FOR EACH STATEMENT EXECUTE FUNCTION prostqs_refuse_change();",
            revoke_writes_sql(table),
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
            # No parameters: the trigger body's '%' placeholders belong to PL/pgSQL, not to the driver.
            schema_editor.execute(sql, None)

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        for sql in remove_sql(schema_editor.connection.vendor, self.table):
            schema_editor.execute(sql, None)

    def describe(self) -> str:
        return f"Make {self.table} append-only in the database"

    @property
    def migration_name_fragment(self) -> str:
        return f"{self.table}_append_only"

    def deconstruct(self):
        return (self.__class__.__qualname__, [self.table], {})


# The chain's own guard, second to the sequencer lock: an event is accepted only if it follows the current head.
PG_CHAIN_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_events_check_link() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.sequence = 1 THEN
        IF NEW.previous_hash <> repeat('0', 64) THEN
            RAISE EXCEPTION 'audit_events: event 1 must link to the genesis hash'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    ELSIF NOT EXISTS (
        SELECT 1 FROM audit_events WHERE sequence = NEW.sequence - 1 AND hash = NEW.previous_hash
    ) THEN
        RAISE EXCEPTION 'audit_events: event % does not follow event % (gap or wrong previous_hash)',
            NEW.sequence, NEW.sequence - 1 USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;
"""


def chain_guard_install_sql(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return [PG_CHAIN_FUNCTION,
                'CREATE TRIGGER "audit_events_link" BEFORE INSERT ON "audit_events" '
                "FOR EACH ROW EXECUTE FUNCTION audit_events_check_link();"]
    if vendor == "sqlite":
        return ["""CREATE TRIGGER "audit_events_link" BEFORE INSERT ON "audit_events" WHEN NOT (
                    (NEW.sequence = 1 AND NEW.previous_hash = '""" + "0" * 64 + """')
                    OR EXISTS (SELECT 1 FROM audit_events
                               WHERE sequence = NEW.sequence - 1 AND hash = NEW.previous_hash))
                BEGIN SELECT RAISE(ABORT, 'audit_events: event does not follow its predecessor'); END;"""]
    raise NotSupportedError(f"the audit chain guard is not written for {vendor}")


def chain_guard_remove_sql(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return ['DROP TRIGGER IF EXISTS "audit_events_link" ON "audit_events";',
                "DROP FUNCTION IF EXISTS audit_events_check_link();"]
    if vendor == "sqlite":
        return ['DROP TRIGGER IF EXISTS "audit_events_link";']
    raise NotSupportedError(f"the audit chain guard is not written for {vendor}")


class AuditChainGuard(migrations.operations.base.Operation):
    """Refuse an ``audit_events`` row that does not follow the chain head (sequence - 1, its hash)."""

    reversible = True
    reduces_to_sql = True

    def state_forwards(self, app_label, state) -> None:
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        for sql in chain_guard_install_sql(schema_editor.connection.vendor):
            schema_editor.execute(sql, None)

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        for sql in chain_guard_remove_sql(schema_editor.connection.vendor):
            schema_editor.execute(sql, None)

    def describe(self) -> str:
        return "Refuse audit events that do not follow the chain head"

    @property
    def migration_name_fragment(self) -> str:
        return "audit_chain_guard"

    def deconstruct(self):
        return (self.__class__.__qualname__, [], {})


def sqlite_rebuilt(*tables: str):
    """A ``RunPython`` function for a migration that alters columns of append-only ``tables``: SQLite rebuilds a table
    to change a column and drops its triggers with the old table, so this puts them back (and the audit chain guard
    on ``audit_events``). Run it forwards after the altered fields, and backwards before them (so that it runs last
    when the migration is unapplied). Nothing to do on PostgreSQL, which alters columns in place."""

    def reinstall(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "sqlite":
            return
        for table in tables:
            for sql in [*remove_sql("sqlite", table), *install_sql("sqlite", table)]:
                schema_editor.execute(sql, None)
            if table == "audit_events":
                for sql in [*chain_guard_remove_sql("sqlite"), *chain_guard_install_sql("sqlite")]:
                    schema_editor.execute(sql, None)

    return reinstall


class WidenField(migrations.AlterField):
    """``AlterField`` for a change that only widens a column (a longer ``max_length``). Unapplied, only the model
    state goes back: the column keeps its width, since rows written in the wider form (versioned hashes,
    ``core.integrity.chain``) may be there and narrowing it would refuse them. A wider column than the state says
    is harmless, and applying the migration again widens nothing."""

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        return None

    def describe(self) -> str:
        return f"Widen field {self.name} on {self.model_name} (kept wide when unapplied)"
