"""The compiled-policy cache and real transactions: a rolled-back change leaves no phantom policy behind."""
import pytest
from django.db import transaction

from governance.policy_engine import policy_cache
from governance.services.policies import policy_create, policy_evaluate, policy_update

pytestmark = [pytest.mark.smoke, pytest.mark.django_db(transaction=True)]


class Boom(Exception):
    pass


def evaluate():
    return policy_evaluate(resource="ledger", action="debit", context={"amount": 10}, record=False)


def allow(name):
    return policy_create(name=name, resource="ledger", action="debit", effect="allow", reason="test", active=True)


def test_a_rolled_back_policy_is_never_evaluated_after_the_rollback():
    assert evaluate().default_applied
    with pytest.raises(Boom), transaction.atomic():
        allow("phantom")
        assert evaluate().allowed  # the changing transaction sees its own change
        raise Boom
    assert evaluate().default_applied and evaluate().denied


def test_a_committed_change_is_cached_again_after_commit(django_assert_num_queries):
    with transaction.atomic():
        policy = allow("real")
        assert evaluate().allowed
    assert evaluate().allowed
    with django_assert_num_queries(0):
        for _ in range(20):
            evaluate()
    policy_update(policy_id=policy.pk, effect="deny")
    assert evaluate().denied
    assert policy_cache.get().generation is not None
