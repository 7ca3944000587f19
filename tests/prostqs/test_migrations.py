"""Migrations apply forward and back on SQLite and on PostgreSQL, and none is missing."""
import os
import subprocess
import sys
import uuid

import pytest
from django.conf import settings
from django.db import connection

pytestmark = pytest.mark.smoke


def manage(database_url, *args):
    env = {**os.environ, "DEBUG": "true", "DATABASE_URL": database_url, "REDIS_URL": ""}
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_no_model_change_lacks_a_migration():
    manage("sqlite:///:memory:", "makemigrations", "--check", "--dry-run")


def test_migrations_apply_and_reverse_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    manage(url, "migrate", "--no-input")
    assert "[ ]" not in manage(url, "showmigrations")
    for app in ("agents", "ads", "billing", "governance", "identity", "infrastructure", "audit"):
        if any(p.name[0].isdigit() for p in (settings.BASE_DIR / app / "migrations").iterdir()):
            manage(url, "migrate", app, "zero", "--no-input")


@pytest.mark.postgres
@pytest.mark.django_db
def test_migrations_apply_on_a_fresh_postgresql_database():
    name = f"prostqs_migrate_{uuid.uuid4().hex[:8]}"
    params = connection.settings_dict
    base = f"postgres://{params['USER']}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}"
    with connection._nodb_cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        manage(f"{base}/{name}", "migrate", "--no-input")
        assert "[ ]" not in manage(f"{base}/{name}", "showmigrations")
    finally:
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
