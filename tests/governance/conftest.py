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
