"""Fixtures shared by every test package."""
from __future__ import annotations

import os

import pytest
from django.db import connection
from rest_framework.test import APIClient


def pytest_collection_modifyitems(config, items):
    """Tests that need PostgreSQL or Redis are skipped on the embedded default, never in CI."""
    on_postgres = connection.vendor == "postgresql"
    has_redis = bool(os.environ.get("REDIS_URL"))
    in_ci = os.environ.get("CI") == "true"
    for item in items:
        missing = None
        if item.get_closest_marker("postgres") and not on_postgres:
            missing = "PostgreSQL (set DATABASE_URL)"
        elif item.get_closest_marker("redis") and not has_redis:
            missing = "Redis (set REDIS_URL)"
        if missing is None:
            continue
        if in_ci and not item.get_closest_marker("smoke"):
            # CI runs these on real services; a missing service there is a failure, not a skip.
            item.add_marker(pytest.mark.usefixtures("_fail_missing_service"))
        else:
            item.add_marker(pytest.mark.skip(reason=f"needs {missing}"))


@pytest.fixture
def _fail_missing_service():
    pytest.fail("CI must run this test on PostgreSQL and Redis: DATABASE_URL / REDIS_URL are not set")


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()
