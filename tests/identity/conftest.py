"""Fixtures for the identity tests: users, apps with credentials, signed-in clients."""
from __future__ import annotations

import base64
import itertools

import pytest

from identity.models import User
from identity.services.apps import app_create, credential_issue
from identity.services.sessions import session_open
from tests.clients import APIClient

_counter = itertools.count(1)


def basic(public_key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{public_key}:{secret}".encode()).decode()


@pytest.fixture
def make_user():
    def make(**extra) -> User:
        return User.objects.create_user(**extra)

    return make


@pytest.fixture
def make_app(make_user):
    """An app (with a fresh owner unless given) and a credential: returns (app, credential, basic header)."""

    def make(*, owner: User | None = None, scopes=("identity",), name: str | None = None):
        owner = owner or make_user()
        app = app_create(owner=owner, name=name or f"App {next(_counter)}")
        issued = credential_issue(app=app, name="test", scopes=list(scopes))
        return app, issued.credential, basic(issued.credential.public_key, issued.secret)

    return make


@pytest.fixture
def app_client():
    """An APIClient authenticated with the given Basic header."""

    def make(header: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        return client

    return make


@pytest.fixture
def user_client(make_user):
    """(client with a Bearer session token, user, session)."""

    def make(user: User | None = None):
        user = user or make_user()
        opened = session_open(user=user, device_fingerprint="test-device")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {opened.token}")
        return client, user, opened.session

    return make


@pytest.fixture(autouse=True)
def otp_outbox(settings, tmp_path):
    """Codes go to a JSON-lines file, as the file sender writes them; returns a reader of the latest code."""
    import json

    path = tmp_path / "otp-messages.jsonl"
    settings.OTP_SENDER = "file"
    settings.OTP_FILE_PATH = path

    class Outbox:
        def messages(self) -> list[dict]:
            return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

        def code_for(self, verification_id) -> str:
            found = [m["code"] for m in self.messages() if m["verification_id"] == str(verification_id)]
            assert found, f"no message for verification {verification_id}"
            return found[-1]

    return Outbox()


@pytest.fixture
def clock(monkeypatch):
    """Move the services' clock (``django.utils.timezone.now``) forward by whole seconds."""
    from datetime import timedelta

    from django.utils import timezone

    real_now = timezone.now

    class Clock:
        offset = timedelta(0)

        def advance(self, seconds: float) -> None:
            self.offset += timedelta(seconds=seconds)

    state = Clock()
    monkeypatch.setattr(timezone, "now", lambda: real_now() + state.offset)
    return state


@pytest.fixture
def sign_in(api_client, run_jobs, otp_outbox):
    """Sign a phone in through the API; returns the verify answer's JSON."""

    def go(phone: str, *, fingerprint: str = "device-1") -> dict:
        started = api_client.post("/api/v1/identity/otp/start", {"phone": phone, "channel": "sms"})
        assert started.status_code == 201, started.content
        run_jobs()
        verification_id = started.json()["verification_id"]
        verified = api_client.post("/api/v1/identity/otp/verify", {
            "verification_id": verification_id, "code": otp_outbox.code_for(verification_id),
            "device_fingerprint": fingerprint})
        assert verified.status_code == 200, verified.content
        return verified.json()

    return go
