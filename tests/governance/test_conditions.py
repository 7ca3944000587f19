"""The condition language, table-driven: every op, missing fields, strict types, and what validation refuses."""
import pytest

from governance.conditions import compile_conditions, validate_conditions

pytestmark = pytest.mark.smoke

CONTEXT = {
    "amount": 1500,
    "ratio": 0.25,
    "currency": "BRL",
    "flag": True,
    "nothing": None,
    "when": "2026-05-01T12:00:00.000000Z",
    "tags": ["vip", "new", 7],
    "agent": {"type": "operator", "limits": {"daily": 10}},
    "items": [{"sku": "A1"}, {"sku": "B2"}],
    "meta": {"source": "api"},
}

# (field, op, value, holds)
CASES = [
    ("amount", "eq", 1500, True),
    ("amount", "eq", 1500.0, True),
    ("amount", "eq", "1500", False),
    ("flag", "eq", True, True),
    ("flag", "eq", 1, False),
    ("nothing", "eq", None, True),
    ("agent.type", "eq", "operator", True),
    ("agent.limits.daily", "eq", 10, True),
    ("items.1.sku", "eq", "B2", True),
    ("tags", "eq", ["vip", "new", 7], True),
    ("amount", "ne", 1000, True),
    ("amount", "ne", 1500, False),
    ("flag", "ne", 1, True),
    ("amount", "gt", 1000, True),
    ("amount", "gt", 1500, False),
    ("amount", "gte", 1500, True),
    ("amount", "lt", 1500, False),
    ("amount", "lte", 1500, True),
    ("ratio", "lt", 0.5, True),
    ("currency", "gt", "AAA", True),
    ("when", "gte", "2026-01-01T00:00:00Z", True),
    ("when", "lt", "2026-01-01T00:00:00Z", False),
    ("currency", "gt", 5, False),
    ("amount", "gt", "1000", False),
    ("flag", "gt", 0, False),
    ("currency", "in", ["BRL", "USD"], True),
    ("currency", "in", ["EUR"], False),
    ("amount", "in", [1500, 2000], True),
    ("flag", "in", [1], False),
    ("nothing", "in", [None], True),
    ("currency", "not_in", ["EUR", "USD"], True),
    ("currency", "not_in", ["BRL"], False),
    ("tags", "contains", "vip", True),
    ("tags", "contains", 7, True),
    ("tags", "contains", "old", False),
    ("currency", "contains", "BR", True),
    ("currency", "contains", "XX", False),
    ("meta", "contains", "source", True),
    ("meta", "contains", "target", False),
    ("amount", "contains", 1, False),
    ("amount", "exists", True, True),
    ("nothing", "exists", True, True),
    ("missing", "exists", False, True),
    ("amount", "exists", False, False),
    ("agent.limits.weekly", "exists", True, False),
]


@pytest.mark.parametrize(("field", "op", "value", "holds"), CASES)
def test_condition_op(field, op, value, holds):
    (condition,) = compile_conditions([{"field": field, "op": op, "value": value}])
    why, _seen = condition.test(CONTEXT)
    assert (why is None) is holds, why


@pytest.mark.parametrize("op", ["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains"])
@pytest.mark.parametrize("path", ["absent", "agent.absent", "items.9.sku", "currency.deeper", "tags.x"])
def test_a_missing_field_never_holds(op, path):
    value = {"in": ["x"], "not_in": ["x"], "contains": "x", "gt": 0, "gte": 0, "lt": 0, "lte": 0}.get(op, "x")
    (condition,) = compile_conditions([{"field": path, "op": op, "value": value}])
    why, _seen = condition.test(CONTEXT)
    assert why == "field missing"


def test_exists_defaults_to_true_when_value_is_left_out():
    (condition,) = compile_conditions([{"field": "amount", "op": "exists"}])
    assert condition.test(CONTEXT)[0] is None
    assert condition.test({})[0] == "field missing"


def test_description_reports_the_value_seen():
    (condition,) = compile_conditions([{"field": "amount", "op": "gt", "value": 2000}])
    why, seen = condition.test(CONTEXT)
    assert condition.describe(seen, why) == {"field": "amount", "op": "gt", "value": 2000, "present": True,
                                             "seen": 1500, "holds": False, "why": "comparison false"}


INVALID = [
    ({"field": "amount", "op": "equals", "value": 1}, "unknown op 'equals'"),
    ({"field": "amount", "op": "gt"}, "op 'gt' needs a value"),
    ({"field": "", "op": "eq", "value": 1}, "field must be a non-empty string"),
    ({"field": "a..b", "op": "eq", "value": 1}, "is not a dotted path"),
    ({"field": ".a", "op": "eq", "value": 1}, "is not a dotted path"),
    ({"field": "a.b.", "op": "eq", "value": 1}, "is not a dotted path"),
    ({"field": "a b", "op": "eq", "value": 1}, "is not a dotted path"),
    ({"field": "a$", "op": "eq", "value": 1}, "is not a dotted path"),
    ({"field": ".".join(["a"] * 17), "op": "eq", "value": 1}, "deeper than 16"),
    ({"field": 5, "op": "eq", "value": 1}, "field must be a non-empty string"),
    ({"field": "amount", "op": "gt", "value": [1]}, "needs a number or a string value, not list"),
    ({"field": "amount", "op": "lte", "value": True}, "needs a number or a string value, not boolean"),
    ({"field": "amount", "op": "lt", "value": None}, "needs a number or a string value, not null"),
    ({"field": "amount", "op": "in", "value": "BRL"}, "needs a non-empty list value, not string"),
    ({"field": "amount", "op": "in", "value": []}, "needs a non-empty list value"),
    ({"field": "amount", "op": "not_in", "value": [[1]]}, "needs a list of scalars"),
    ({"field": "amount", "op": "contains", "value": {"a": 1}}, "needs a scalar value, not object"),
    ({"field": "amount", "op": "exists", "value": "yes"}, "needs true or false, not string"),
    ({"field": "amount", "op": "eq", "value": 1, "extra": 2}, "unknown key(s) extra"),
    ("amount > 5", "must be an object"),
]


@pytest.mark.parametrize(("condition", "message"), INVALID)
def test_invalid_conditions_are_refused_with_a_clear_message(condition, message):
    errors = validate_conditions([{"field": "ok", "op": "eq", "value": 1}, condition])
    assert len(errors) >= 1
    assert errors[0].startswith("condition 2: ")
    assert message in errors[0]


def test_conditions_must_be_a_list():
    assert validate_conditions({"field": "a"}) == ["conditions must be a list of condition objects, not object"]
    assert validate_conditions([]) == []


def test_compile_refuses_invalid_conditions():
    with pytest.raises(ValueError, match="unknown op"):
        compile_conditions([{"field": "a", "op": "like", "value": "x"}])
