"""Policies are validated when saved, versioned on every change, and audited."""
import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEvent
from audit.services import audit_sequence
from core.errors import InvalidInput, NotFound
from governance.models import Policy
from governance.services.policies import policy_create, policy_set_active, policy_update

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]

VALID = {"name": "cap", "resource": "ledger", "action": "debit", "effect": "deny", "reason": "Too much money."}

REFUSED = [
    ({"conditions": [{"field": "amount", "op": "greater", "value": 1}]}, "conditions", "unknown op 'greater'"),
    ({"conditions": [{"field": "a..b", "op": "eq", "value": 1}]}, "conditions", "is not a dotted path"),
    ({"conditions": [{"field": "amount", "op": "gt", "value": ["lots"]}]}, "conditions",
     "needs a number or a string value, not list"),
    ({"conditions": [{"field": "amount", "op": "in", "value": 5}]}, "conditions", "needs a non-empty list"),
    ({"conditions": {"field": "amount"}}, "conditions", "must be a list"),
    ({"effect": "maybe"}, "effect", None),
    ({"resource": "Ledger Book"}, "resource", None),
    ({"action": ""}, "action", None),
    ({"reason": ""}, "reason", None),
    ({"name": ""}, "name", None),
]


@pytest.mark.parametrize(("change", "field", "message"), REFUSED)
def test_invalid_policies_are_refused_at_save(change, field, message):
    with pytest.raises(InvalidInput) as err:
        policy_create(**{**VALID, **change})
    assert field in err.value.fields
    if message:
        assert any(message in m for m in err.value.fields[field])
    assert not Policy.objects.exists()


def test_model_clean_reports_condition_errors_on_the_conditions_field():
    policy = Policy(**VALID, conditions=[{"field": "amount", "op": "like", "value": 1}])
    with pytest.raises(ValidationError) as err:
        policy.full_clean()
    assert "unknown op 'like'" in err.value.message_dict["conditions"][0]


def test_an_update_with_invalid_conditions_changes_nothing(make_policy):
    policy = make_policy("keep", conditions=[{"field": "amount", "op": "gt", "value": 5}])
    with pytest.raises(InvalidInput):
        policy_update(policy_id=policy.pk, conditions=[{"field": "amount", "op": "between", "value": [1, 2]}])
    stored = Policy.objects.get(pk=policy.pk)
    assert stored.version == 1 and stored.conditions == [{"field": "amount", "op": "gt", "value": 5}]
    assert stored.history.count() == 1


def test_duplicate_names_are_refused(make_policy):
    make_policy("same")
    with pytest.raises(InvalidInput) as err:
        policy_create(**{**VALID, "name": "same"})
    assert "name" in err.value.fields


def test_every_change_is_a_new_version_with_history(make_policy):
    policy = make_policy("versioned", effect="allow", active=False)
    policy_set_active(policy_id=policy.pk, active=True)
    policy_update(policy_id=policy.pk, conditions=[{"field": "amount", "op": "lt", "value": 100}])
    stored = Policy.objects.get(pk=policy.pk)
    assert stored.version == 3
    versions = list(stored.history.order_by("history_id").values_list("version", "active", "conditions"))
    assert versions == [(1, False, []), (2, True, []), (3, True, [{"field": "amount", "op": "lt", "value": 100}])]


def test_no_change_makes_no_version(make_policy):
    policy = make_policy("same-again", priority=4)
    assert policy_update(policy_id=policy.pk, priority=4).version == 1
    assert Policy.objects.get(pk=policy.pk).history.count() == 1


def test_a_type_change_that_python_calls_equal_is_still_a_change(make_policy):
    policy = make_policy("typed", conditions=[{"field": "flag", "op": "eq", "value": 1}])
    assert policy_update(policy_id=policy.pk, conditions=[{"field": "flag", "op": "eq", "value": True}]).version == 2


def test_unknown_fields_and_policies_are_refused(make_policy):
    policy = make_policy("x")
    with pytest.raises(InvalidInput):
        policy_update(policy_id=policy.pk, version=9)
    import uuid

    with pytest.raises(NotFound):
        policy_update(policy_id=uuid.uuid4(), priority=1)


def test_changes_are_audited(make_policy):
    policy = make_policy("audited", effect="allow")
    policy_update(policy_id=policy.pk, effect="deny", change_reason="tighten")
    audit_sequence()
    events = list(AuditEvent.objects.filter(target_id=policy.pk).order_by("sequence"))
    assert [e.type for e in events] == ["POLICY_CREATED", "POLICY_UPDATED"]
    assert events[1].before["effect"] == "allow" and events[1].after["effect"] == "deny"
    assert events[1].after["version"] == 2 and events[1].policy_id == policy.pk and events[1].reason == "tighten"
