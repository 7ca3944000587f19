"""The two PostgreSQL roles a deployment runs with, and their grants (``python manage.py db_roles``).

- The **owner** role owns the database, its schema and every table, sequence and function in it, and runs the
  migrations. It is not a superuser and cannot create roles or databases.
- The **application** role is what gunicorn, Celery and the commands log in as. It owns nothing, so it cannot
  ``ALTER TABLE … DISABLE TRIGGER`` or drop anything; it is not a superuser, so it cannot set
  ``session_replication_role`` (the switch that skips triggers); it is a member of no role. It may SELECT, INSERT,
  UPDATE and DELETE every table (USAGE and SELECT on sequences), except the append-only tables
  (``audit.immutable.append_only_tables()``), where it may only SELECT and INSERT. TRUNCATE is granted nowhere.

Default privileges of the owner in the schema give tables and sequences that later migrations create the same
grants; ``audit.operations.AppendOnly`` takes UPDATE, DELETE and TRUNCATE back from an append-only table in the
migration that creates it. Re-running the command after ``migrate`` is harmless (it is idempotent) and re-asserts
everything, including for objects created by someone else.

Runs as a superuser (the cluster's administrator), connected to the application's database, in one transaction.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.db import connection, transaction

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_KINDS = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE", "f": "FOREIGN TABLE"}
APP_TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
APPEND_ONLY_PRIVILEGES = ("SELECT", "INSERT")


class DbRolesError(Exception):
    """The roles cannot be set up here (not PostgreSQL, not a superuser, a name refused)."""


@dataclass
class RolesReport:
    owner: str
    app: str
    database: str = ""
    schema: str = ""
    created: list[str] = field(default_factory=list)
    given_to_owner: list[str] = field(default_factory=list)
    tables: int = 0
    append_only: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        made = ", ".join(self.created) or "none (both existed; attributes re-applied)"
        return [
            f"roles created: {made}",
            f"{self.owner}: owns database {self.database}, schema {self.schema} and everything in it; LOGIN, "
            "NOSUPERUSER, NOCREATEDB, NOCREATEROLE, NOREPLICATION, NOBYPASSRLS",
            f"{self.app}: LOGIN, NOSUPERUSER, NOCREATEDB, NOCREATEROLE, NOREPLICATION, NOBYPASSRLS, member of no "
            "role, owns nothing",
            f"objects given to {self.owner}: {len(self.given_to_owner)}",
            f"{self.app}: {', '.join(APP_TABLE_PRIVILEGES)} on {self.tables - len(self.append_only)} tables; "
            f"{', '.join(APPEND_ONLY_PRIVILEGES)} only on {len(self.append_only)} append-only tables "
            f"({', '.join(self.append_only)}); USAGE, SELECT on sequences; TRUNCATE nowhere",
            f"default privileges: tables and sequences {self.owner} creates later get the same grants "
            "(append-only tables lose UPDATE/DELETE/TRUNCATE in their migration)",
        ]


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _one(cursor, sql: str, params=None):
    cursor.execute(sql, params)
    return cursor.fetchone()


def _check_names(owner: str, app: str) -> None:
    for what, name in (("owner", owner), ("application", app)):
        if not ROLE_NAME.match(name or ""):
            raise DbRolesError(f"the {what} role name {name!r} must be lowercase letters, digits and _, starting "
                               "with a letter or _, at most 63 characters")
    if owner == app:
        raise DbRolesError("the owner and the application role must be two different roles")


def _require_postgresql() -> None:
    if connection.vendor != "postgresql":
        raise DbRolesError(f"db_roles sets up PostgreSQL roles; this database is {connection.vendor} (the embedded "
                           "default has no roles: its file's permissions are its access control)")


def _password_sql(role: str, password: str):
    from psycopg import sql

    return sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(password))


def db_roles_apply(*, owner: str, app: str, owner_password: str | None = None,
                   app_password: str | None = None) -> RolesReport:
    """Create or update the owner and application roles and their grants on the current database (see the module
    docstring). Idempotent; one transaction."""
    from audit.immutable import append_only_tables
    from audit.operations import revoke_writes_sql

    _require_postgresql()
    _check_names(owner, app)
    report = RolesReport(owner=owner, app=app)
    with transaction.atomic(), connection.cursor() as cursor:
        me, superuser, report.database, report.schema = _one(
            cursor, "SELECT current_user, rolsuper, current_database(), current_schema() FROM pg_roles "
                    "WHERE rolname = current_user")
        if not superuser:
            raise DbRolesError(f"db_roles must run as a superuser (connected as {me}): it creates roles and gives "
                               "the owner role every object")
        if me in (owner, app):
            raise DbRolesError(f"{me} is the role running this command: choose other names for the owner and the "
                               "application role (they are made non-superusers)")
        for name in (owner, app):
            row = _one(cursor, "SELECT rolsuper FROM pg_roles WHERE rolname = %s", [name])
            if row is not None and row[0]:
                raise DbRolesError(f"role {name} is a superuser: db_roles does not demote superusers; choose another "
                                   "name")
        db, schema, o, a = (_quote(report.database), _quote(report.schema), _quote(owner), _quote(app))

        attributes = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
        for name, quoted in ((owner, o), (app, a)):
            if _one(cursor, "SELECT 1 FROM pg_roles WHERE rolname = %s", [name]) is None:
                cursor.execute(f"CREATE ROLE {quoted} {attributes}")
                report.created.append(name)
            else:
                cursor.execute(f"ALTER ROLE {quoted} {attributes}")
        for name, password in ((owner, owner_password), (app, app_password)):
            if password:
                # On psycopg's own connection: Django's query log would keep the statement, password included.
                connection.connection.execute(_password_sql(name, password))
        # Membership would hand the application role another role's rights (SET ROLE, or inherited ones).
        cursor.execute("SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
                       "WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = %s)", [app])
        for (granted,) in cursor.fetchall():
            cursor.execute(f"REVOKE {_quote(granted)} FROM {a}")

        cursor.execute(f"ALTER DATABASE {db} OWNER TO {o}")
        cursor.execute(f"REVOKE ALL ON DATABASE {db} FROM {a}")
        cursor.execute(f"GRANT CONNECT ON DATABASE {db} TO {a}")
        cursor.execute(f"ALTER SCHEMA {schema} OWNER TO {o}")
        cursor.execute(f"REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC")
        cursor.execute(f"REVOKE ALL ON SCHEMA {schema} FROM {a}")
        cursor.execute(f"GRANT USAGE ON SCHEMA {schema} TO {a}")

        # Every relation and function of the schema to the owner, the application role's included (it may have
        # run the migrations before). Sequences of identity and serial columns follow their table; objects of
        # extensions stay with their extension.
        cursor.execute(
            "SELECT c.relname, c.relkind FROM pg_class c WHERE c.relnamespace = %s::regnamespace "
            "AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND pg_get_userbyid(c.relowner) <> %s "
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid "
            "AND d.deptype IN ('a', 'i', 'e')) ORDER BY c.relkind <> 'S', c.relname", [report.schema, owner])
        for relname, kind in cursor.fetchall():
            cursor.execute(f"ALTER {_KINDS[kind]} {schema}.{_quote(relname)} OWNER TO {o}")
            report.given_to_owner.append(relname)
        cursor.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = %s::regnamespace "
            "AND pg_get_userbyid(p.proowner) <> %s AND NOT EXISTS (SELECT 1 FROM pg_depend d "
            "WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')", [report.schema, owner])
        for (signature,) in cursor.fetchall():
            cursor.execute(f"ALTER ROUTINE {signature} OWNER TO {o}")
            report.given_to_owner.append(signature)

        cursor.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {a}")
        cursor.execute(f"GRANT {', '.join(APP_TABLE_PRIVILEGES)} ON ALL TABLES IN SCHEMA {schema} TO {a}")
        cursor.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {a}")
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {a}")
        present = {name for (name,) in _all(cursor, "SELECT tablename FROM pg_tables WHERE schemaname = %s",
                                              [report.schema])}
        report.tables = len(present)
        for table in sorted(append_only_tables()):
            if table in present:
                cursor.execute(revoke_writes_sql(table), None)
                report.append_only.append(table)
        cursor.execute(f"ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA {schema} "
                       f"GRANT {', '.join(APP_TABLE_PRIVILEGES)} ON TABLES TO {a}")
        cursor.execute(f"ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA {schema} "
                       f"GRANT USAGE, SELECT ON SEQUENCES TO {a}")
        if int(_one(cursor, "SHOW server_version_num")[0]) >= 150000:
            # PostgreSQL 15 lets a superuser grant the right to set a superuser-only parameter; make sure nobody
            # gave this one (it would let the application skip the append-only triggers).
            for parameter in ("session_replication_role",):
                if _one(cursor, "SELECT has_parameter_privilege(%s, %s, 'SET')", [app, parameter])[0]:
                    cursor.execute(f"REVOKE SET ON PARAMETER {parameter} FROM {a}")
    return report


def _all(cursor, sql: str, params=None) -> list[tuple]:
    cursor.execute(sql, params)
    return cursor.fetchall()


@dataclass
class RoleAudit:
    """What a role may do that the application role must not (empty lists: nothing)."""

    attributes: list[str] = field(default_factory=list)
    owns: list[str] = field(default_factory=list)
    memberships: list[str] = field(default_factory=list)
    append_only_writes: list[str] = field(default_factory=list)
    truncate: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.attributes or self.owns or self.memberships or self.append_only_writes or self.truncate)


def db_role_audit(role: str) -> RoleAudit:
    """Check, from the catalog, that ``role`` has no more rights than the application role should."""
    from audit.immutable import append_only_tables

    _require_postgresql()
    found = RoleAudit()
    with connection.cursor() as cursor:
        row = _one(cursor, "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls "
                           "FROM pg_roles WHERE rolname = %s", [role])
        if row is None:
            raise DbRolesError(f"no role {role}")
        names = ("SUPERUSER", "CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS")
        found.attributes = [name for name, held in zip(names, row, strict=True) if held]
        found.owns = [name for (name,) in _all(
            cursor, "SELECT relname FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = %s) "
                    "AND relnamespace = current_schema()::regnamespace", [role])]
        found.memberships = [name for (name,) in _all(
            cursor, "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
                    "WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = %s)", [role])]
        for table in append_only_tables():
            held = [p for p in ("UPDATE", "DELETE", "TRUNCATE") if _one(
                cursor, "SELECT has_table_privilege(%s, to_regclass(%s), %s)", [role, f'"{table}"', p])[0]]
            if held:
                found.append_only_writes.append(f"{table}: {', '.join(held)}")
        found.truncate = [name for (name,) in _all(
            cursor, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                    "AND has_table_privilege(%s, format('%%I.%%I', schemaname, tablename), 'TRUNCATE')", [role])]
    return found
