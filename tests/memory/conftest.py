"""Fixtures for the institutional memory tests: lifecycles opened as a domain would, and a person who may decide
their reviews; the people, authorities, policies and approval requests come from the governance tests' fixtures."""
from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from identity.models import User
from memory.services import LifecycleSpec, lifecycle_open
from tests.governance import conftest as governance

# The governance tests' fixtures, shared: people, authorities, policies, approval requests, a fresh policy cache.
_fresh_policy_cache = governance._fresh_policy_cache
make_user = governance.make_user
super_admin = governance.super_admin
grant = governance.grant
make_policy = governance.make_policy
test_domain = governance.test_domain
request_factory = governance.request_factory


@pytest.fixture
def open_lifecycle(db):
    """Open a lifecycle directly, as a domain would (an approved decision unless told otherwise)."""

    def make(*, domain="ads", action="pause_campaign", decision_type="approval", now=None, triggered_by=None,
             triggered_by_type="system", **fields):
        spec = LifecycleSpec(decision_id=fields.pop("decision_id", None) or uuid.uuid4(), decision_type=decision_type,
                             domain=domain, action=action, **fields)
        with transaction.atomic():
            return lifecycle_open(spec, now=now, triggered_by=triggered_by, triggered_by_type=triggered_by_type)

    return make


@pytest.fixture
def memory_authority(make_user, grant):
    """A person holding an authority over every domain (may decide reviews and resolve conflicts)."""
    person = make_user(User.Role.ADMIN)
    grant(person, scopes=["*"], max_impact="critical", role="tech_lead")
    return person
