"""The policy condition language: validation at save time, compilation to fast checks for evaluation.

A condition is ``{"field": "<dotted path into the context>", "op": "<op>", "value": <JSON value>}``; a policy's
``conditions`` is a list of them and all must hold. Paths walk dictionaries by key and lists by a numeric index
(``items.0.sku``). Operators:

========  ======================================  =====================================================
op        value                                   holds when the field is present and …
========  ======================================  =====================================================
eq / ne   any JSON value                          equals / differs from ``value``
gt, gte,  a number or a string                    compares with ``value``; numbers with numbers, strings
lt, lte                                           with strings (ISO 8601 UTC timestamps compare correctly)
in        non-empty list of scalars               is one of ``value``
not_in    non-empty list of scalars               is none of ``value``
contains  a scalar                                a list holding ``value``, a string holding the substring
                                                  ``value``, or an object with the key ``value``
exists    ``true`` / ``false`` (default ``true``)  (``true``) is present; (``false``) is absent
========  ======================================  =====================================================

A missing field never satisfies a condition, whatever the operator (``ne`` and ``not_in`` included); only
``exists: false`` asks for absence. Comparison is type-strict: ``true`` is not ``1`` and ``"5"`` is not ``5``;
a value of the wrong type makes the condition fail with the reason ``type mismatch``.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "exists")
MAX_CONDITIONS = 50
MAX_PATH_LENGTH = 200
MAX_PATH_DEPTH = 16
MAX_LIST_VALUES = 1000

_SEGMENT = r"[A-Za-z0-9_\-]+"
_PATH = re.compile(rf"^{_SEGMENT}(\.{_SEGMENT})*$")
MISSING = object()  # what a path resolves to when the field is absent


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, int, float))


def _type_name(value: Any) -> str:
    if value is MISSING:
        return "missing"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if _is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _is_json(value: Any, depth: int = 0) -> bool:
    if depth > 32:
        return False
    if isinstance(value, float):
        return math.isfinite(value)
    if _is_scalar(value):
        return True
    if isinstance(value, list):
        return all(_is_json(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v, depth + 1) for k, v in value.items())
    return False


# --- validation -------------------------------------------------------------------------------------------------


def validate_path(path: Any) -> str | None:
    """The problem with a field path, or None when it is usable."""
    if not isinstance(path, str) or not path:
        return "field must be a non-empty string"
    if len(path) > MAX_PATH_LENGTH:
        return f"field is longer than {MAX_PATH_LENGTH} characters"
    if not _PATH.match(path):
        return (f"field {path!r} is not a dotted path (segments of letters, digits, '_' or '-', "
                "separated by single dots)")
    if path.count(".") + 1 > MAX_PATH_DEPTH:
        return f"field {path!r} is deeper than {MAX_PATH_DEPTH} segments"
    return None


def _validate_value(op: str, value: Any) -> str | None:
    if op in ("eq", "ne"):
        return None if _is_json(value) else "value must be a JSON value"
    if op in ("gt", "gte", "lt", "lte"):
        if not (_is_number(value) or isinstance(value, str)) or (isinstance(value, float) and not math.isfinite(value)):
            return f"op {op!r} needs a number or a string value, not {_type_name(value)}"
        return None
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            return f"op {op!r} needs a non-empty list value, not {_type_name(value)}"
        if len(value) > MAX_LIST_VALUES:
            return f"op {op!r} accepts at most {MAX_LIST_VALUES} values"
        bad = [v for v in value if not _is_scalar(v) or (isinstance(v, float) and not math.isfinite(v))]
        if bad:
            return f"op {op!r} needs a list of scalars (strings, numbers, booleans, null)"
        return None
    if op == "contains":
        if not _is_scalar(value) or (isinstance(value, float) and not math.isfinite(value)):
            return f"op 'contains' needs a scalar value, not {_type_name(value)}"
        return None
    if op == "exists":
        return None if isinstance(value, bool) else f"op 'exists' needs true or false, not {_type_name(value)}"
    return None


def validate_conditions(conditions: Any) -> list[str]:
    """Every problem with a policy's conditions, as human messages naming the condition (1-based)."""
    if conditions is None:
        return ["conditions must be a list (use [] for a policy without conditions)"]
    if not isinstance(conditions, list):
        return [f"conditions must be a list of condition objects, not {_type_name(conditions)}"]
    if len(conditions) > MAX_CONDITIONS:
        return [f"a policy has at most {MAX_CONDITIONS} conditions"]
    errors: list[str] = []
    for number, cond in enumerate(conditions, start=1):
        prefix = f"condition {number}"
        if not isinstance(cond, dict):
            errors.append(f"{prefix}: must be an object with field, op and value, not {_type_name(cond)}")
            continue
        unknown = sorted(set(cond) - {"field", "op", "value"})
        if unknown:
            errors.append(f"{prefix}: unknown key(s) {', '.join(unknown)} (allowed: field, op, value)")
        problem = validate_path(cond.get("field"))
        if problem:
            errors.append(f"{prefix}: {problem}")
        op = cond.get("op")
        if op not in OPS:
            errors.append(f"{prefix}: unknown op {op!r}; expected one of {', '.join(OPS)}")
            continue
        if "value" not in cond:
            if op != "exists":
                errors.append(f"{prefix}: op {op!r} needs a value")
            continue
        problem = _validate_value(op, cond["value"])
        if problem:
            errors.append(f"{prefix}: {problem}")
    return errors


# --- evaluation -------------------------------------------------------------------------------------------------


def resolve(context: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` in ``context``, or ``MISSING``."""
    current = context
    for segment in path:
        if isinstance(current, dict):
            current = current.get(segment, MISSING)
            if current is MISSING:
                return MISSING
        elif isinstance(current, list) and segment.isdigit():
            index = int(segment)
            if index >= len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current



def strict_equal(a: Any, b: Any) -> bool:
    """JSON equality where booleans, numbers and strings never equal one another."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(strict_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _key(value: Any) -> tuple[str, Any] | None:
    """A hashable, type-tagged key for scalars (None for lists and objects)."""
    if value is None:
        return ("z", None)
    if isinstance(value, bool):
        return ("b", value)
    if _is_number(value):
        return ("n", value)
    if isinstance(value, str):
        return ("s", value)
    return None


# A check returns None when the condition holds, else the reason it does not.
Check = Callable[[Any], str | None]

_ORDER = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def _compile_check(op: str, value: Any) -> Check:
    if op == "exists":
        want = value

        def check_exists(seen: Any) -> str | None:
            present = seen is not MISSING
            if present == want:
                return None
            return "field missing" if want else "field present"

        return check_exists

    def missing_guard(inner: Check) -> Check:
        def check(seen: Any) -> str | None:
            if seen is MISSING:
                return "field missing"
            return inner(seen)

        return check

    if op == "eq":
        return missing_guard(lambda seen: None if strict_equal(seen, value) else "not equal")
    if op == "ne":
        return missing_guard(lambda seen: "equal" if strict_equal(seen, value) else None)
    if op in _ORDER:
        compare = _ORDER[op]
        numeric = _is_number(value)

        def check_order(seen: Any) -> str | None:
            if (_is_number(seen) if numeric else isinstance(seen, str)):
                return None if compare(seen, value) else "comparison false"
            return f"type mismatch (seen {_type_name(seen)}, expected {'number' if numeric else 'string'})"

        return missing_guard(check_order)
    if op in ("in", "not_in"):
        keys = frozenset(_key(v) for v in value)
        if op == "in":
            return missing_guard(lambda seen: None if _key(seen) in keys else "not in list")
        return missing_guard(lambda seen: "in list" if _key(seen) in keys else None)
    if op == "contains":

        def check_contains(seen: Any) -> str | None:
            if isinstance(seen, list):
                return None if any(strict_equal(item, value) for item in seen) else "not contained"
            if isinstance(seen, str) and isinstance(value, str):
                return None if value in seen else "not contained"
            if isinstance(seen, dict) and isinstance(value, str):
                return None if value in seen else "not contained"
            return f"type mismatch (seen {_type_name(seen)})"

        return missing_guard(check_contains)
    raise ValueError(f"unknown op {op!r}")  # validation refuses these before anything is compiled


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    field: str
    op: str
    value: Any
    path: tuple[str, ...]
    check: Check

    def test(self, context: Any) -> tuple[str | None, Any]:
        """(None, seen) when the condition holds, else (reason, seen); ``seen`` may be ``MISSING``."""
        seen = resolve(context, self.path)
        return self.check(seen), seen

    def describe(self, seen: Any, why: str | None) -> dict[str, Any]:
        present = seen is not MISSING
        out = {"field": self.field, "op": self.op, "value": self.value, "present": present,
               "seen": seen if present else None, "holds": why is None}
        if why is not None:
            out["why"] = why
        return out


def compile_conditions(conditions: list[dict[str, Any]]) -> tuple[CompiledCondition, ...]:
    """Compile validated conditions; raises ValueError if they were not valid."""
    errors = validate_conditions(conditions)
    if errors:
        raise ValueError("; ".join(errors))
    compiled = []
    for cond in conditions:
        op = cond["op"]
        value = cond.get("value", True)
        compiled.append(CompiledCondition(cond["field"], op, value, tuple(cond["field"].split(".")),
                                          _compile_check(op, value)))
    return tuple(compiled)
