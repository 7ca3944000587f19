"""The database roles (``python manage.py db_roles``): the application role may not change or empty an append-only
table, skip its triggers or own anything, and everything the product does still works logged in as it."""
from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from psycopg import errors

from audit.immutable import AppendOnlyModel
from console import integrity
from prostqs.dbroles import DbRolesError, db_role_audit, db_roles_apply
from tests.reliability.conftest import logged_in_as

pytestmark = [pytest.mark.postgres]


def append_only_models():
    from django.apps import apps

    return [m for m in apps.get_models() if issubclass(m, AppendOnlyModel)]


def refused(conn, sql: str) -> str:
    """Run ``sql`` as the role of ``conn``; return PostgreSQL's refusal (a permission error), failing otherwise."""
    with pytest.raises(errors.InsufficientPrivilege) as raised, conn.transaction():
        conn.execute(sql)
    return str(raised.value)


@pytest.mark.django_db(transaction=True)
def test_the_application_role_cannot_change_empty_or_unprotect_an_append_only_table(db_roles):
    with logged_in_as(db_roles.app) as conn:
        for model in append_only_models():
            table, key = model._meta.db_table, model._meta.pk.column
            assert "permission denied" in refused(conn, f'UPDATE "{table}" SET "{key}" = "{key}" WHERE false')
            assert "permission denied" in refused(conn, f'DELETE FROM "{table}" WHERE false')
            assert "permission denied" in refused(conn, f'TRUNCATE "{table}"')
            assert "must be owner" in refused(conn, f'ALTER TABLE "{table}" DISABLE TRIGGER ALL')
            assert "must be owner" in refused(conn, f'DROP TRIGGER "{table}_append_only" ON "{table}"')
            conn.execute(f'SELECT count(*) FROM "{table}"')
        assert "permission denied to set parameter" in refused(conn, "SET session_replication_role = replica")
        assert "permission denied" in refused(conn, "CREATE TABLE planted (id int)")
        assert "permission denied" in refused(conn, "TRUNCATE billing_accounts")
        # Its ordinary tables it reads and writes.
        conn.execute("UPDATE billing_accounts SET updated_at = updated_at WHERE false")
        conn.execute("DELETE FROM jobs WHERE false")
    assert db_role_audit(db_roles.app).ok


@pytest.mark.django_db(transaction=True)
def test_the_owner_keeps_migrating_and_a_later_append_only_table_is_protected_from_the_app_at_once(db_roles):
    """A table a later migration creates gets the application's grants by default privileges; ``AppendOnly`` takes
    UPDATE, DELETE and TRUNCATE back in that same migration (as the owner, with no second run of ``db_roles``)."""
    from audit.operations import install_sql

    with logged_in_as(db_roles.owner) as owner, logged_in_as(db_roles.app) as app:
        try:
            owner.execute("CREATE TABLE later_plain (id int PRIMARY KEY)")
            owner.execute("CREATE TABLE later_evidence (id int PRIMARY KEY)")
            for sql in install_sql("postgresql", "later_evidence"):
                owner.execute(sql)
            app.execute("INSERT INTO later_plain VALUES (1)")
            app.execute("UPDATE later_plain SET id = 2")
            app.execute("DELETE FROM later_plain")
            app.execute("INSERT INTO later_evidence VALUES (1)")
            assert app.execute("SELECT count(*) FROM later_evidence").fetchone() == (1,)
            refused(app, "UPDATE later_evidence SET id = 2")
            refused(app, "DELETE FROM later_evidence")
            refused(app, "TRUNCATE later_evidence")
        finally:
            owner.execute("DROP TABLE IF EXISTS later_plain, later_evidence")


@pytest.mark.django_db(transaction=True)
def test_the_products_workload_runs_logged_in_as_the_application_role(db_roles, settings, tmp_path):
    """API traffic of every app, jobs run by the worker, audit sequencing, idempotency keys, sessions, the kill
    switch and verify_all at the end, on a connection that logged in as the application role."""
    import base64
    import os

    from devtools.workload import run_workload

    settings.AUDIT_CHECKPOINT_KEY = base64.b64encode(os.urandom(32)).decode()
    settings.AUDIT_CHECKPOINT_DIR = str(tmp_path)
    database = connection.settings_dict
    saved = database["USER"]
    connection.close()
    database["USER"] = db_roles.app
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone() == (db_roles.app,)
        result = run_workload(seed=23, steps=150)
        call_command("audit_checkpoint")
        report = integrity.run_all(store=True, trigger="workload")
    finally:
        connection.close()
        database["USER"] = saved
    assert result.five_xx == 0 and not result.shape_errors, result.figures()
    assert result.ok, result.figures()
    assert report.ok, report.summary()
    assert {r.name: r.notes for r in report.results}["audit_chain"][-1] == "1 signed checkpoints checked"


@pytest.mark.django_db
def test_a_grant_of_update_on_an_append_only_table_fails_verification(db_roles):
    assert integrity.run_all(store=False, only=["append_only_triggers"]).ok
    with connection.cursor() as cursor:
        cursor.execute(f'GRANT UPDATE, TRUNCATE ON ledger_entries TO "{db_roles.app}"')
    result = integrity.run_all(store=False, only=["append_only_triggers"]).results[0]
    assert result.problems == [f"table ledger_entries: role {db_roles.app} holds TRUNCATE, UPDATE (only the owner may; "
                               "run db_roles)"]
    assert db_role_audit(db_roles.app).append_only_writes == ["ledger_entries: UPDATE, TRUNCATE"]


@pytest.mark.django_db(transaction=True)
def test_db_roles_is_idempotent_and_takes_back_what_was_granted_since(db_roles, capsys):
    with connection.cursor() as cursor:
        cursor.execute(f'GRANT UPDATE, DELETE ON agent_memory, audit_events TO "{db_roles.app}"')
        cursor.execute(f'GRANT "{db_roles.owner}" TO "{db_roles.app}"')
    assert not db_role_audit(db_roles.app).ok
    call_command("db_roles", "--owner", db_roles.owner, "--app", db_roles.app)
    out = capsys.readouterr().out
    assert "roles created: none" in out and f"{db_roles.app} checked" in out
    found = db_role_audit(db_roles.app)
    assert found.ok, found
    with logged_in_as(db_roles.app) as conn:
        refused(conn, "UPDATE agent_memory SET finding = finding WHERE false")
        refused(conn, f'SET ROLE "{db_roles.owner}"')


@pytest.mark.django_db
@pytest.mark.parametrize(("owner", "app", "message"), [
    ("same", "same", "two different roles"),
    ("Bad-Name", "prostqs_app", "lowercase letters"),
    ("postgres", "prostqs_app_x", "running this command"),
])
def test_db_roles_refuses_names_it_must_not_touch(owner, app, message):
    with pytest.raises(DbRolesError, match=message):
        db_roles_apply(owner=owner, app=app)


@pytest.mark.django_db
def test_db_roles_needs_a_superuser(db_roles):
    with connection.cursor() as cursor:
        cursor.execute(f'SET LOCAL ROLE "{db_roles.owner}"')
        with pytest.raises(DbRolesError, match="must run as a superuser"):
            db_roles_apply(owner="prostqs_x_owner", app="prostqs_x_app")


def test_db_roles_says_clearly_it_is_for_postgresql_only(monkeypatch):
    monkeypatch.setattr(connection, "vendor", "sqlite")
    with pytest.raises(CommandError, match="sets up PostgreSQL roles; this database is sqlite") as raised:
        call_command("db_roles", "--owner", "o", "--app", "a")
    assert raised.value.returncode == 2


@pytest.mark.django_db(transaction=True)
def test_an_app_role_password_is_set_from_the_environment_without_reaching_the_query_log(db_roles, monkeypatch):
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setenv("PROSTQS_APP_DB_PASSWORD", "s3cret-for-the-app")
    with CaptureQueriesContext(connection) as queries:
        call_command("db_roles", "--owner", db_roles.owner, "--app", db_roles.app,
                     "--app-password-env", "PROSTQS_APP_DB_PASSWORD")
    assert not any("s3cret" in q["sql"] for q in queries.captured_queries)
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolpassword IS NOT NULL FROM pg_authid WHERE rolname = %s", [db_roles.app])
        assert cursor.fetchone() == (True,)
        cursor.execute(f'ALTER ROLE "{db_roles.app}" PASSWORD NULL')
    with pytest.raises(CommandError, match="NOPE_UNSET"):
        call_command("db_roles", "--owner", db_roles.owner, "--app", db_roles.app, "--app-password-env",
                     "NOPE_UNSET")
