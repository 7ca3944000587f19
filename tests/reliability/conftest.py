"""Fixtures of the reliability tests: the billing tests' localstripe server and Stripe settings, the identity
tests' OTP outbox (codes written by the file sender), and the database roles of ``db_roles``."""
import contextlib

import pytest
from django.db import connection

from tests.billing.conftest import (  # noqa: F401 - fixtures, requested by name
    billing_app,
    localstripe_url,
    localstripe_webhook,
    stripe_api,
    stripe_on,
    webhooks_on,
)
from tests.identity.conftest import otp_outbox  # noqa: F401


@pytest.fixture(scope="module")
def db_roles(django_db_setup, django_db_blocker):
    """The owner and application roles of ``db_roles``, made for the test database (PostgreSQL roles belong to the
    whole cluster, so the names carry the test database's). Afterwards everything goes back to the role running the
    tests and both roles are dropped."""
    from prostqs.dbroles import db_roles_apply

    name = connection.settings_dict["NAME"]
    owner, app = f"{name}_owner", f"{name}_app"
    with django_db_blocker.unblock():
        report = db_roles_apply(owner=owner, app=app)
    yield report
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        for role in (owner, app):
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            if cursor.fetchone():
                cursor.execute(f'REASSIGN OWNED BY "{role}" TO CURRENT_USER')
                cursor.execute(f'DROP OWNED BY "{role}"')
                cursor.execute(f'DROP ROLE "{role}"')


@contextlib.contextmanager
def logged_in_as(role: str):
    """A connection of its own to the test database, logged in as ``role`` (autocommit; local trust auth)."""
    import psycopg

    settings = connection.settings_dict
    with psycopg.connect(host=settings["HOST"] or None, port=settings["PORT"] or None, dbname=settings["NAME"],
                         user=role, password=None, autocommit=True) as conn:
        yield conn
