"""Fixtures for the infrastructure tests: test job types, an effects table, other processes, audit reads."""
from __future__ import annotations

import base64
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

import tests.infrastructure.handlers  # noqa: F401 - registers the test job types
from tests.infrastructure.handlers import EFFECTS


class Effects:
    def rows(self) -> list[tuple[str, str, int]]:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT job_id, worker, attempt FROM {EFFECTS}")
            return [(str(r[0]), r[1], r[2]) for r in cursor.fetchall()]

    def count(self, job_id=None) -> int:
        return len([r for r in self.rows() if job_id is None or r[0] == str(job_id)])


@pytest.fixture
def effects():
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {EFFECTS} "
                       "(job_id varchar(36) NOT NULL, worker varchar(200) NOT NULL, attempt integer NOT NULL)")
        cursor.execute(f"DELETE FROM {EFFECTS}")
    yield Effects()
    if not connection.needs_rollback:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {EFFECTS}")


def key(fill: int) -> str:
    return base64.b64encode(bytes([fill]) * 32).decode()


@pytest.fixture
def keyring(settings):
    """A known one-key keyring, ``t1``."""
    settings.SECRETS_MASTER_KEYS = f"t1:{key(1)}"
    return settings


@pytest.fixture
def fast_retries(settings):
    settings.JOBS_RETRY_BASE_SECONDS = 0.05
    settings.JOBS_RETRY_MAX_SECONDS = 10
    return settings


def database_url() -> str:
    """The test database, for other processes."""
    params = connection.settings_dict
    if connection.vendor == "postgresql":
        auth = params["USER"] + (f":{params['PASSWORD']}" if params.get("PASSWORD") else "")
        return f"postgres://{auth}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}/{params['NAME']}"
    return f"sqlite:///{params['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "DEBUG": "true", "DATABASE_URL": database_url(),
            "SECRETS_MASTER_KEYS": settings.SECRETS_MASTER_KEYS, "PYTHONUNBUFFERED": "1", **extra}


def start_worker(*args: str, **env: str) -> subprocess.Popen:
    """A ``run_jobs`` process (with the test job types) on the test database."""
    return subprocess.Popen([sys.executable, "-m", "tests.infrastructure.worker_main", *args], cwd=settings.BASE_DIR,
                            env=child_env(**env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def audited(event_type: str):
    """Chained audit events of one type, oldest first (sequences staged events first: tests run inside a
    transaction where on_commit never fires)."""
    from audit.models import AuditEvent
    from audit.services import audit_sequence

    audit_sequence()
    return list(AuditEvent.objects.filter(type=event_type).order_by("sequence"))
