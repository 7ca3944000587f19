"""Canonical JSON is RFC 8785 (JCS): the RFC's own examples, its number table, and agreement with the ``rfc8785``
package on arbitrary JSON values; the frozen v1 spelling stays Python's."""
from __future__ import annotations

import json
import struct

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from core.integrity.canonical import canonical_bytes, canonical_json, legacy_json_v1


def test_the_rfc_example_of_section_3_2_4():
    value = json.loads('{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], '
                       '"string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", '
                       '"literals": [null, true, false]}')
    assert canonical_json(value) == ('{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,'
                                     '1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}')
    assert canonical_bytes(value) == canonical_json(value).encode("utf-8")


def test_keys_sort_by_utf16_code_units_as_in_section_3_2_3():
    value = {"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
             "1": "One", "\U0001f600": "Emoji: Grinning Face", "\u0080": "Control",
             "\u00f6": "Latin Small Letter O With Diaeresis"}
    keys = list(json.loads(canonical_json(value)))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    # By code point the emoji (U+1F600) would come last; by UTF-16 code units (0xD83D…) it comes before U+FB33.
    assert list(json.loads(legacy_json_v1(value)))[-1] == "\U0001f600"


# RFC 8785 Appendix B: IEEE 754 doubles (as hex) and their canonical spelling.
APPENDIX_B = [
    ("0000000000000000", "0"), ("8000000000000000", "0"), ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"), ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"), ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"), ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"), ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"), ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"), ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"), ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"), ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"), ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"), ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("ieee", "expected"), APPENDIX_B)
def test_numbers_of_appendix_b(ieee, expected):
    number = struct.unpack(">d", bytes.fromhex(ieee))[0]
    assert canonical_json(number) == expected
    assert canonical_json([number]) == f"[{expected}]"
    assert canonical_json({"n": number}) == f'{{"n":{expected}}}'


@pytest.mark.parametrize("ieee", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_nan_and_infinity_have_no_spelling(ieee):
    with pytest.raises(ValueError):
        canonical_json({"n": struct.unpack(">d", bytes.fromhex(ieee))[0]})


@pytest.mark.parametrize(("value", "expected"), [
    (1.0, "1"), (-0.0, "0"), (1e-07, "1e-7"), (1e16, "10000000000000000"), (0.1, "0.1"), (1e21, "1e+21"),
    (0.025000000000000005, "0.025000000000000005"), (123456789.125, "123456789.125"),
])
def test_numbers_where_python_and_ecmascript_differ_or_agree(value, expected):
    assert canonical_json({"x": value}) == f'{{"x":{expected}}}'


def test_strings_escape_only_quote_backslash_and_controls():
    text = "\"\\/\b\f\n\r\t\x00\x1f\x7f\u2028é😀"
    assert canonical_json(text) == '"\\"\\\\/\\b\\f\\n\\r\\t\\u0000\\u001f\x7f\u2028é😀"'


def test_integers_beyond_the_double_range_keep_every_digit():
    assert canonical_json({"n": 2**53 + 1}) == '{"n":9007199254740993}'
    assert canonical_json([-(2**70)]) == f"[{-(2**70)}]"
    assert canonical_json(9007199254740991) == "9007199254740991"


def test_keys_must_be_strings_and_values_json():
    with pytest.raises(TypeError):
        canonical_json({"a": 0.5, 1: "x"})
    with pytest.raises(TypeError):
        canonical_json({"a": object()})


def test_the_v1_spelling_is_pythons():
    assert legacy_json_v1({"b": 1.0, "a": 1e-07, "c": "é"}) == '{"a":1e-07,"b":1.0,"c":"é"}'


_keys = st.text(alphabet=st.characters(codec="utf-8"), max_size=4)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(alphabet=st.characters(codec="utf-8")),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(_json)
def test_agrees_with_the_rfc8785_package_and_is_its_own_canonical_form(value):
    text = canonical_json(value)
    assert text.encode() == rfc8785.dumps(value)
    assert canonical_json(json.loads(text)) == text
