"""Demo data: a tenant (owner user), its application and a credential with every scope. Idempotent.

A secret can only be shown when it is issued, so the demo credential's secret is kept in
``var/demo-credential.json`` (outside version control, owner-only) for ``make run`` to print every time; when the
file no longer matches the database, a new credential replaces the old one.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings
from django.db import connection

from identity.models import AppCredential, Application, Scope
from identity.services.apps import app_create, credential_issue, credential_revoke
from identity.services.users import identity_get_or_create

DEMO_PHONE = "+5511987650000"
DEMO_APP_SLUG = "demo-shop"
DEMO_CREDENTIAL_NAME = "Demo"
CREDENTIAL_FILE = settings.BASE_DIR / "var" / "demo-credential.json"


def _database_key() -> str:
    # One entry per database, so that test databases never overwrite the development one's secret.
    return f"{connection.vendor}:{connection.settings_dict['NAME']}"


def _read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def stored_credential(path: Path | None = None) -> dict[str, str] | None:
    """The demo credential of the current database (public key, secret), if one was stored."""
    return _read(path or CREDENTIAL_FILE).get(_database_key())


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, readable by its owner only from the first byte (written to a file created
    with mode 0600, then renamed over the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(partial, path)


def seed(stdout: TextIO, *, path: Path | None = None) -> None:
    path = path or CREDENTIAL_FILE
    owner, _created = identity_get_or_create(phone=DEMO_PHONE, source="admin", verified=True)
    app = Application.objects.filter(slug=DEMO_APP_SLUG).first()
    if app is None:
        # No webhook URL: the demo runs offline, and deliveries to a made-up host would only fill the dead letters.
        app = app_create(owner=owner, name="Demo Shop", slug=DEMO_APP_SLUG)
    stored = stored_credential(path)
    active = AppCredential.objects.filter(app=app, name=DEMO_CREDENTIAL_NAME, status=AppCredential.Status.ACTIVE)
    if stored and active.filter(public_key=stored.get("public_key")).exists():
        return
    for old in active:
        credential_revoke(credential=old, reason="demo credential replaced: its secret was no longer stored")
    issued = credential_issue(app=app, name=DEMO_CREDENTIAL_NAME, scopes=list(Scope.values))
    data = _read(path)
    data[_database_key()] = {"app": app.slug, "public_key": issued.credential.public_key, "secret": issued.secret}
    _write_private(path, json.dumps(data, indent=2))
    stdout.write(f"  Demo app {app.slug}: new credential {issued.credential.public_key}\n")


def credential_lines() -> str:
    """How to call the API as the demo app (for ``make run``), or an empty string."""
    stored = stored_credential()
    if not stored:
        return ""
    return (f"  Demo app: {stored['app']}  (every scope)\n"
            f"  API key:  {stored['public_key']}\n"
            f"  Secret:   {stored['secret']}\n"
            f"  Try:      curl -u {stored['public_key']}:{stored['secret']} "
            "http://127.0.0.1:8000/api/v1/audit/events\n")
