"""Evaluation: candidates, precedence, the default, explanations, stored evaluations and their versions, caching."""
import pytest

from core.errors import InvalidInput
from governance.models import Policy, PolicyEvaluation
from governance.policy_engine import CompiledPolicySet, PolicyCache, load_active
from governance.services.policies import policy_evaluate, policy_update

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]

# Each row: the policies (name, effect, priority, resource, action, conditions) and the expected winner.
HOLDS = [{"field": "amount", "op": "gt", "value": 0}]
FAILS = [{"field": "amount", "op": "gt", "value": 10**9}]
PRECEDENCE = [
    ("higher priority wins", [("a-low", "deny", 1, "*", "*", []), ("b-high", "allow", 5, "*", "*", [])], "b-high"),
    ("deny beats require_approval and allow on a tie",
     [("a", "allow", 3, "*", "*", []), ("b", "require_approval", 3, "*", "*", []), ("c", "deny", 3, "*", "*", [])],
     "c"),
    ("require_approval beats allow on a tie",
     [("a", "allow", 3, "*", "*", []), ("b", "require_approval", 3, "*", "*", [])], "b"),
    ("then by name", [("zeta", "allow", 3, "*", "*", []), ("alpha", "allow", 3, "*", "*", [])], "alpha"),
    ("first match decides: a non-matching higher policy is skipped",
     [("high", "deny", 9, "*", "*", FAILS), ("low", "allow", 1, "*", "*", HOLDS)], "low"),
    ("exact resource and action match", [("exact", "allow", 0, "ledger", "debit", [])], "exact"),
    ("wildcard resource", [("any-res", "allow", 0, "*", "debit", [])], "any-res"),
    ("wildcard action", [("any-act", "allow", 0, "ledger", "*", [])], "any-act"),
    ("other resources and actions never match",
     [("other-res", "allow", 9, "billing", "debit", []), ("other-act", "allow", 9, "ledger", "credit", []),
      ("fallback", "require_approval", 0, "*", "*", [])], "fallback"),
    ("nothing matches: default", [("other", "allow", 0, "ads", "*", [])], None),
    ("a condition on a missing field does not match, even with ne",
     [("ne-missing", "allow", 5, "*", "*", [{"field": "absent", "op": "ne", "value": 1}])], None),
]


@pytest.mark.parametrize(("title", "policies", "winner"), PRECEDENCE, ids=[row[0] for row in PRECEDENCE])
def test_precedence(make_policy, title, policies, winner):
    for name, effect, priority, resource, action, conditions in policies:
        make_policy(name, effect=effect, priority=priority, resource=resource, action=action, conditions=conditions)
    decision = policy_evaluate(resource="ledger", action="debit", context={"amount": 100}, record=False)
    assert decision.policy_name == (winner or "")
    if winner is None:
        assert decision.default_applied and decision.denied


def test_inactive_policies_are_ignored(make_policy):
    make_policy("draft", effect="allow", active=False)
    assert policy_evaluate(resource="ledger", action="debit", context={}, record=False).default_applied


def test_the_default_effect_is_configurable(settings):
    settings.POLICY_DEFAULT_EFFECT = "require_approval"
    decision = policy_evaluate(resource="ledger", action="debit", context={}, record=False)
    assert decision.requires_approval and decision.result == "pending_approval"
    assert "default effect is require_approval" in decision.reason


def test_explanation_names_the_policy_version_values_seen_and_skipped(make_policy):
    make_policy("big-deny", effect="deny", priority=10, conditions=[{"field": "amount", "op": "gt", "value": 5000}])
    make_policy("brl-approval", effect="require_approval", priority=5,
                conditions=[{"field": "currency", "op": "eq", "value": "BRL"},
                            {"field": "amount", "op": "gte", "value": 100}])
    make_policy("allow-rest", effect="allow", priority=0)
    decision = policy_evaluate(resource="ledger", action="debit", context={"amount": 300, "currency": "BRL"},
                               record=False)
    explanation = decision.explanation()
    assert explanation["result"] == "pending_approval"
    assert explanation["policy"]["name"] == "brl-approval" and explanation["policy"]["version"] == 1
    assert explanation["conditions"] == [
        {"field": "currency", "op": "eq", "value": "BRL", "present": True, "seen": "BRL", "holds": True},
        {"field": "amount", "op": "gte", "value": 100, "present": True, "seen": 300, "holds": True},
    ]
    (skipped,) = explanation["skipped"]
    assert skipped["name"] == "big-deny"
    assert skipped["failed"] == {"field": "amount", "op": "gt", "value": 5000, "present": True, "seen": 300,
                                 "holds": False, "why": "comparison false"}
    assert [p["name"] for p in explanation["not_reached"]] == ["allow-rest"]


def test_each_evaluation_is_stored_with_the_deciding_version(make_policy):
    policy = make_policy("cap", effect="deny", conditions=[{"field": "amount", "op": "gt", "value": 1000}])
    first = policy_evaluate(resource="ledger", action="debit", context={"amount": 1500}, actor_id=policy.pk)
    policy_update(policy_id=policy.pk, conditions=[{"field": "amount", "op": "gt", "value": 2000}])
    second = policy_evaluate(resource="ledger", action="debit", context={"amount": 1500})

    row1 = PolicyEvaluation.objects.get(pk=first.evaluation_id)
    row2 = PolicyEvaluation.objects.get(pk=second.evaluation_id)
    assert (row1.result, row1.policy_id, row1.policy_version, row1.actor_id) == ("denied", policy.pk, 1, policy.pk)
    assert row1.policy_history.version == 1
    assert row1.policy_history.conditions == [{"field": "amount", "op": "gt", "value": 1000}]
    assert row1.explanation["policy"]["version"] == 1 and row1.context == {"amount": 1500}
    # Version 2 no longer matches 1500: the default decided, and the first row still names version 1.
    assert row2.policy_id is None and row2.default_applied and row2.result == "denied"
    assert Policy.objects.get(pk=policy.pk).version == 2


def test_the_stored_row_names_version_two_after_an_edit(make_policy):
    policy = make_policy("v", effect="allow")
    policy_update(policy_id=policy.pk, priority=3)
    decision = policy_evaluate(resource="ledger", action="debit", context={})
    row = PolicyEvaluation.objects.get(pk=decision.evaluation_id)
    assert (row.policy_version, row.policy_history.version, row.policy_history.priority) == (2, 2, 3)


def test_context_values_are_stored_as_json(make_policy):
    import uuid
    from datetime import UTC, datetime
    from decimal import Decimal

    make_policy("uuid-match", effect="allow", conditions=[{"field": "when", "op": "gte", "value": "2026-01-01"}])
    ident = uuid.uuid4()
    decision = policy_evaluate(resource="ledger", action="debit", context={
        "id": ident, "amount": Decimal("12.50"), "when": datetime(2026, 3, 1, tzinfo=UTC)})
    assert decision.allowed
    row = PolicyEvaluation.objects.get(pk=decision.evaluation_id)
    assert row.context == {"id": str(ident), "amount": 12.5, "when": "2026-03-01T00:00:00.000000Z"}


@pytest.mark.parametrize("context", [["a"], "text", None])
def test_the_context_must_be_an_object(context):
    with pytest.raises(InvalidInput) as err:
        policy_evaluate(resource="ledger", action="debit", context=context)
    assert "context" in err.value.fields


def test_resource_and_action_are_required():
    with pytest.raises(InvalidInput) as err:
        policy_evaluate(resource="", action="*", context={})
    assert set(err.value.fields) == {"resource", "action"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_change_in_this_process_is_seen_at_once(make_policy):
    policy = make_policy("flip", effect="allow")
    assert policy_evaluate(resource="ledger", action="debit", context={}, record=False).allowed
    policy_update(policy_id=policy.pk, effect="deny")
    assert policy_evaluate(resource="ledger", action="debit", context={}, record=False).denied


def test_another_process_sees_a_change_after_its_check_interval(make_policy, django_assert_num_queries):
    """A second cache stands for another process: it is not told of the change, it finds it by the fingerprint."""
    policy = make_policy("remote", effect="allow")
    clock = FakeClock()
    other = PolicyCache(check_seconds=0.5, clock=clock)
    assert policy_evaluate(resource="ledger", action="debit", context={}, record=False, cache=other).allowed
    assert other.loads == 1
    with django_assert_num_queries(0):  # within the interval: no database round trip at all
        for _ in range(50):
            policy_evaluate(resource="ledger", action="debit", context={}, record=False, cache=other)

    policy_update(policy_id=policy.pk, effect="deny")
    assert policy_evaluate(resource="ledger", action="debit", context={}, record=False, cache=other).allowed
    clock.now += 0.6
    assert policy_evaluate(resource="ledger", action="debit", context={}, record=False, cache=other).denied
    assert other.loads == 2


def test_an_unchanged_table_is_not_recompiled(make_policy, django_assert_num_queries):
    make_policy("steady", effect="allow")
    clock = FakeClock()
    cache = PolicyCache(check_seconds=0.5, clock=clock)
    cache.get()
    clock.now += 1
    with django_assert_num_queries(1):  # only the fingerprint
        cache.get()
    assert cache.loads == 1


def test_candidate_lists_are_memoised_per_resource_and_action(make_policy):
    make_policy("a", resource="ledger", action="*", effect="allow")
    make_policy("b", resource="ads", action="pause", effect="allow")
    compiled = CompiledPolicySet.build(load_active())
    first = compiled.candidates("ledger", "debit")
    assert [p.name for p in first] == ["a"]
    assert compiled.candidates("ledger", "debit") is first
