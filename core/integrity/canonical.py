"""Canonical JSON: RFC 8785, the JSON Canonicalization Scheme (JCS), and the frozen spelling that came before it.

``canonical_json(value)`` is the one spelling of a JSON value used for everything written from now on:

- objects with their members sorted by their keys' UTF-16 code units (``"\\r"`` < ``"1"`` < ``"\\u20ac"`` <
  ``"\\ud83d\\ude00"`` < ``"\\ue000"``), no whitespace;
- strings escaping only ``"``, ``\\`` and U+0000 to U+001F (``\\b \\f \\n \\r \\t``, the others ``\\u00xx`` in
  lowercase hex); every other character is written as itself;
- numbers as ECMAScript writes a double: ``1`` for 1.0, ``1e-7``, ``1e+21``, ``333333333.3333333``; no NaN or
  infinity;
- the text encoded as UTF-8 (``canonical_bytes``).

One extension: an integer outside ±(2**53 - 1), which RFC 8785 leaves out of its domain (a double cannot hold it),
is written with all its digits rather than refused, so that a record holding one is still written, and hashed
exactly. Object keys must be strings.

Python's C JSON encoder already writes most values exactly as RFC 8785 does: everything but integral floats
(``1.0``), floats in exponent form (``1e-07``, ``1e+16``), integers of 16 digits or more and keys above U+FFFF.
``canonical_json`` uses it, and hands the few values whose output shows one of those to the exact (slower) writer
below, whose numbers come from the ``rfc8785`` package. (Other floats, such as ``0.25``, are the same shortest
round-trip digits in fixed notation in both.)

``legacy_json_v1`` is the spelling of hash format v1 (``json.dumps`` with sorted keys): numbers as Python writes
them (``1.0``, ``1e-07``), keys sorted by code point. It is kept, unchanged, to verify what was written with it.
"""
from __future__ import annotations

import json
import math
import re
from json.encoder import encode_basestring
from typing import Any

import rfc8785

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

# Where the encoder wrote a number that RFC 8785 may spell otherwise: a float ending in ``.0`` or in exponent form, or
# an integer of 16 digits or more; after ``:``, ``,`` or ``[`` and before ``,``, ``]``, ``}`` or the end. Text inside
# a string can match too (rarely); that only sends the value to the exact writer, which spells it the same way.
_INEXACT_NUMBER = re.compile(r"[:,\[]-?(?:[0-9]+\.0|[0-9]+(?:\.[0-9]+)?e[+-][0-9]+|[1-9][0-9]{15,})(?=[,\]}]|$)")


def canonical_json(value: Any) -> str:
    """RFC 8785 canonical JSON of ``value`` (dicts with string keys, lists, tuples, strings, numbers, booleans,
    None) as text. TypeError for anything else, ValueError for NaN or infinity."""
    text = _ENCODER.encode(value)
    if (_INEXACT_NUMBER.search(text) is None and text[:1] not in "-0123456789"
            and (text.isascii() or max(text) <= "\uffff")):
        return text
    out: list[str] = []
    _write(value, out)
    return "".join(out)


def canonical_bytes(value: Any) -> bytes:
    """``canonical_json(value)`` as UTF-8: what is hashed."""
    return canonical_json(value).encode()


def _utf16(item: tuple[str, Any]) -> bytes:
    return item[0].encode("utf-16-be", "surrogatepass")


def _write(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(encode_basestring(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no JSON spelling")
        out.append(rfc8785.dumps(float(value)).decode())
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys are strings, not {type(key).__name__}")
        out.append("{")
        for index, (key, member) in enumerate(sorted(value.items(), key=_utf16)):
            if index:
                out.append(",")
            out.append(encode_basestring(key))
            out.append(":")
            _write(member, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, member in enumerate(value):
            if index:
                out.append(",")
            _write(member, out)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} is not a JSON value")


def legacy_json_v1(value: Any) -> str:
    """Hash format v1's spelling (frozen): Python's ``json.dumps`` with sorted keys, no whitespace, non-ASCII as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
