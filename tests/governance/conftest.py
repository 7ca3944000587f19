"""Fixtures for the governance tests: people, authorities, policies and a test-only approval domain."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest
from django.db import transaction

from governance.callbacks import register_approval_callback, unregister_approval_callback
from governance.policy_engine import policy_cache
from identity.models import User

_names = itertools.count(1)


@pytest.fixture(autouse=True)
def _fresh_policy_cache():
    """Each test starts with an empty compiled-policy cache (tests share one process)."""
    policy_cache.invalidate()
    yield
    policy_cache.invalidate()


@pytest.fixture
def make_user(db):
    def make(role: str = User.Role.USER, **extra) -> User:
        return User.objects.create_user(f"person{next(_names)}", role=role, **extra)

    return make


@pytest.fixture
def super_admin(make_user) -> User:
    return make_user(User.Role.SUPER_ADMIN)


@pytest.fixture
def grant(super_admin):
    """Grant an authority (made by the super admin unless ``by`` says otherwise)."""
    from governance.services.authorities import authority_grant

    def make(user, *, scopes=("test",), max_impact="high", role="finance_officer", by=None, **extra):
        return authority_grant(user=user, role=role, scopes=list(scopes), max_impact=max_impact,
                               granted_by=by or super_admin, **extra)

    return make


@pytest.fixture
def make_policy(db):
    from governance.services.policies import policy_create

    def make(name=None, *, resource="ledger", action="debit", effect="deny", conditions=None, priority=0,
             active=True, reason="because the test says so"):
        return policy_create(name=name or f"policy-{next(_names)}", resource=resource, action=action,
                             effect=effect, reason=reason, conditions=conditions or [], priority=priority,
                             active=active)

    return make


@dataclass
class PayoutLedger:
    """A stand-in for a domain's waiting work: a payout held until approved, reversed if not."""

    executed: list[str] = field(default_factory=list)
    reversed: list[str] = field(default_factory=list)
    calls: int = 0

    def on_approved(self, request) -> None:
        self.calls += 1
        self.executed.append(request.reference)

    def on_rejected(self, request) -> None:
        self.calls += 1
        self.reversed.append(request.reference)


@pytest.fixture
def test_domain():
    """The ``test`` approval domain with recording callbacks, removed after the test."""
    ledger = PayoutLedger()
    register_approval_callback("test", ledger.on_approved, ledger.on_rejected)
    yield ledger
    unregister_approval_callback("test")


@pytest.fixture
def request_factory(db, make_user):
    from governance.services.approvals import approval_request_create

    def make(*, domain="test", action="payout", amount=500_000, requested_by=None, **extra):
        requester = requested_by or make_user()
        with transaction.atomic():
            return approval_request_create(domain=domain, action=action, amount=amount,
                                           context={"amount": amount, "currency": "BRL"},
                                           requested_by=requester.pk, requested_by_type="user", **extra)

    return make


@pytest.fixture
def open_lifecycle(db):
    """Open a lifecycle directly, as a domain would (an approved decision unless told otherwise)."""
    import uuid

    from governance.services.memory import LifecycleSpec, lifecycle_open

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
