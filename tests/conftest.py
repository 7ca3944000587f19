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


@pytest.fixture(scope="session", autouse=True)
def _flush_past_append_only_triggers():
    """Transactional tests empty every table between tests; append-only triggers would refuse that.

    Only the test teardown's flush steps around them: PostgreSQL skips ordinary triggers for that one transaction
    (session_replication_role = replica, as a superuser restoring a dump would), SQLite drops and reinstalls them.
    """
    from audit.immutable import append_only_tables
    from audit.operations import install_sql, remove_sql

    ops = connection.ops
    original = ops.execute_sql_flush

    def execute_sql_flush(sql_list):
        tables = append_only_tables()
        if connection.vendor == "postgresql":
            sql_list = ["SET LOCAL session_replication_role = replica", *sql_list]
        elif connection.vendor == "sqlite":
            before = [sql for t in tables for sql in remove_sql("sqlite", t)]
            after = [sql for t in tables for sql in install_sql("sqlite", t)]
            sql_list = [*before, *sql_list, *after]
        return original(sql_list)

    ops.execute_sql_flush = execute_sql_flush
    yield
    ops.execute_sql_flush = original


@pytest.fixture
def _fail_missing_service():
    pytest.fail("CI must run this test on PostgreSQL and Redis: DATABASE_URL / REDIS_URL are not set")


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture(autouse=True)
def _fresh_kill_switch_cache():
    """Each process caches the kill switches for up to KILLSWITCH_CACHE_SECONDS; a test's rolled-back activation
    must not leak into the next test through that copy."""
    from infrastructure.services.killswitches import killswitch_cache_clear

    killswitch_cache_clear()
    yield
    killswitch_cache_clear()
