"""Helpers for the audit tests: recording events, tampering with the log the way an intruder with database
superuser rights would, and a checkpoint key of the test's own."""
from __future__ import annotations

import base64
import secrets
import threading

import pytest
from django.db import connection, transaction

from audit import operations
from audit.services import audit_record


def record(n: int = 1, *, type: str = "AUDIT_VERIFIED", **fields) -> None:
    """``n`` events, each in its own transaction (as ``n`` service calls would be)."""
    action = fields.pop("action", "test")
    for i in range(n):
        with transaction.atomic():
            audit_record(type, action=action, metadata={"i": i}, **fields)


def tamper(sql: str, params: list | None = None) -> None:
    """Change audit_events behind the application's back: step around the append-only triggers the way a database
    superuser can, run ``sql``, and put the triggers back."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute('ALTER TABLE "audit_events" DISABLE TRIGGER "audit_events_append_only"')
            try:
                cursor.execute(sql, params)
            finally:
                cursor.execute('ALTER TABLE "audit_events" ENABLE TRIGGER "audit_events_append_only"')
        else:
            for statement in operations.remove_sql("sqlite", "audit_events"):
                cursor.execute(statement)
            try:
                cursor.execute(sql, params)
            finally:
                for statement in operations.install_sql("sqlite", "audit_events"):
                    cursor.execute(statement)


@pytest.fixture(autouse=True)
def _own_checkpoint_files(settings, tmp_path, monkeypatch):
    """Never read or write the project's own var/ (a developer's checkpoints would vouch for their chain)."""
    from audit import checkpoints

    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    monkeypatch.setattr(checkpoints, "DEV_KEY_PATH", tmp_path / "dev-checkpoint-key")


@pytest.fixture
def checkpoint_key(settings, tmp_path) -> str:
    """A fresh signing key in AUDIT_CHECKPOINT_KEY and a checkpoint directory of the test's own."""
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    settings.AUDIT_CHECKPOINT_KEY = key
    settings.AUDIT_CHECKPOINT_PUBLIC_KEYS = []
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    return key


def run_threads(count: int, target, *args) -> list:
    """Run ``target(index, *args)`` in ``count`` threads, each on its own database connection; re-raise failures."""
    from django.db import connections

    errors, results = [], [None] * count

    def run(index: int) -> None:
        try:
            results[index] = target(index, *args)
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    if errors:
        raise errors[0]
    return results
