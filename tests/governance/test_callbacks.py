"""The registries through which apps above governance hear of its decisions without governance importing them:
authority listeners and policy-change listeners, called inside the deciding transaction."""
from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from governance.callbacks import (
    register_authority_listener,
    register_policy_change_listener,
    unregister_authority_listener,
    unregister_policy_change_listener,
)
from governance.models import DecisionAuthority, Policy
from governance.services.authorities import authority_revoke
from governance.services.policies import policy_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard():
    """A listener of both kinds under the key ``test``, recording what it is told."""
    calls: list[tuple] = []
    register_authority_listener(
        "test",
        on_granted=lambda *, authority, granted_by, reason: calls.append(("granted", authority.pk, granted_by, reason)),
        on_revoked=lambda *, authority, revoked_by, reason: calls.append(("revoked", authority.pk, revoked_by, reason)))

    def before_save(*, policy):
        stored = Policy.objects.get(pk=policy.pk).version if not policy._state.adding else None
        calls.append(("before", policy.version, stored))
        return f"prepared v{policy.version}"

    def after_save(*, policy, prepared, actor):
        calls.append(("after", Policy.objects.get(pk=policy.pk).version, prepared, actor))

    register_policy_change_listener("test", before_save=before_save, after_save=after_save)
    yield calls
    unregister_authority_listener("test")
    unregister_policy_change_listener("test")


def test_a_listener_hears_each_grant_and_revocation(heard, make_user, grant, super_admin):
    person = make_user()
    authority = grant(person, reason="covers the test domain")
    authority_revoke(authority_id=authority.pk, revoked_by=super_admin, reason="no longer needed")
    assert heard == [("granted", authority.pk, super_admin, "covers the test domain"),
                     ("revoked", authority.pk, super_admin, "no longer needed")]


def test_a_listener_that_fails_rolls_the_grant_back(make_user, grant):
    def refuse(**kwargs):
        raise RuntimeError("the listener cannot record it")

    register_authority_listener("test", on_granted=refuse, on_revoked=refuse)
    try:
        with pytest.raises(RuntimeError):
            grant(make_user())
    finally:
        unregister_authority_listener("test")
    assert not DecisionAuthority.objects.exists()


def test_a_policy_change_is_shown_before_it_is_saved_and_after(heard, make_policy, super_admin):
    policy = make_policy(active=False)
    heard.clear()  # a draft is created without asking the listeners
    policy_update(policy_id=policy.pk, actor=super_admin, priority=5)
    assert heard == [("before", 2, 1), ("after", 2, "prepared v2", super_admin)]


def test_a_new_active_policy_is_shown_to_the_listeners_and_a_draft_is_not(heard, make_policy):
    make_policy(active=False)
    assert heard == []
    make_policy(active=True)
    assert heard == [("before", 1, None), ("after", 1, "prepared v1", None)]


@pytest.mark.parametrize("register", [
    lambda: register_authority_listener("test", on_granted=print, on_revoked=print),
    lambda: register_policy_change_listener("test", before_save=print, after_save=print),
])
def test_a_key_is_registered_once(heard, register):
    with pytest.raises(ImproperlyConfigured):
        register()
