"""Fixtures for the identity tests: users, apps with credentials, signed-in clients."""
from __future__ import annotations

import base64
import itertools

import pytest
from rest_framework.test import APIClient

from identity.models import User
from identity.services.apps import app_create, credential_issue
from identity.services.sessions import session_open

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
