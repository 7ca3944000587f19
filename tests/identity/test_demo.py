"""Demo data: a tenant, an app and a working credential, idempotent, with the secret kept for make run."""
import io

import pytest

from identity import demo
from identity.models import AppCredential, Application
from tests.identity.conftest import basic

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def test_seed_is_idempotent_and_the_stored_credential_works(tmp_path, monkeypatch, api_client):
    path = tmp_path / "demo-credential.json"
    monkeypatch.setattr(demo, "CREDENTIAL_FILE", path)
    demo.seed(io.StringIO())
    demo.seed(io.StringIO())
    assert Application.objects.filter(slug="demo-shop").count() == 1
    assert AppCredential.objects.filter(status="active").count() == 1
    stored = demo.stored_credential()
    api_client.credentials(HTTP_AUTHORIZATION=basic(stored["public_key"], stored["secret"]))
    assert api_client.get("/api/v1/audit/events").status_code == 200
    assert stored["secret"] in demo.credential_lines()
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_a_lost_secret_is_replaced(tmp_path, monkeypatch):
    path = tmp_path / "demo-credential.json"
    monkeypatch.setattr(demo, "CREDENTIAL_FILE", path)
    demo.seed(io.StringIO())
    first = demo.stored_credential()["public_key"]
    path.unlink()
    demo.seed(io.StringIO())
    assert demo.stored_credential()["public_key"] != first
    assert AppCredential.objects.get(public_key=first).status == "revoked"
    assert AppCredential.objects.filter(status="active").count() == 1
