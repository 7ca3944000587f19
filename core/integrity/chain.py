"""Hash chains with versioned hash formats: the one encoder (``link_hash``) and the one check of a link
(``link_problem``), used by the audit log, approval decisions and lifecycle transitions.

Every hash the project writes carries its format version: ``v2:`` followed by 64 lowercase hex digits of SHA-256.
In format v2 a chain element's hash is::

    "v2:" + hex(SHA-256( canonical JSON of its content || previous_hash ))

with canonical JSON per RFC 8785 (``core.integrity.canonical``), ``||`` byte concatenation and ``previous_hash`` the
previous element's stored hash as ASCII (64 zeros, ``GENESIS_HASH``, before the first). A hash of 64 hex digits and
no prefix is format v1, written before versions existed: Python's JSON spelling (``legacy_json_v1``) in place of RFC
8785, and no prefix. A verifier reads the version off each stored hash and recomputes with that version's encoder,
which is kept unchanged, so every chain written in either format still verifies; within one chain a version never
decreases (v1 elements, then v2 ones).
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from typing import Any

from core.integrity.canonical import canonical_bytes, legacy_json_v1

CURRENT_VERSION = 2
VERSIONS = frozenset({1, 2})
# Room for the prefix and 64 hex digits (the columns that hold versioned hashes).
HASH_MAX_LENGTH = 80
GENESIS_HASH = "0" * 64

# What can be wrong with a link, in the words every verifier and report uses.
GAP = "gap"
LINK_BROKEN = "link broken"
CONTENT_ALTERED = "content altered"

_VERSIONED = re.compile(r"v([0-9]+):")


class UnknownHashVersion(ValueError):
    """A stored hash names a format this code does not know."""


def hash_version(stored: str) -> int:
    """The format version of a stored hash: the number of its ``vN:`` prefix, 1 for a bare hex digest."""
    if stored[:3] == "v2:":  # the common cases first: this runs for every element a verifier reads
        return 2
    if stored[:1] != "v":
        return 1
    match = _VERSIONED.match(stored)
    if match is None:
        raise UnknownHashVersion(f"{stored[:8]!r} is not a hash")
    version = int(match.group(1))
    if version not in VERSIONS or version == 1:
        raise UnknownHashVersion(f"hash format {match.group(0)} is unknown")
    return version


def spell(hexdigest: str, version: int) -> str:
    """A hex digest as stored for ``version``: bare for v1, ``vN:<hex>`` from v2 on."""
    return hexdigest if version == 1 else f"v{version}:{hexdigest}"


def sha256_hash(data: bytes, version: int = CURRENT_VERSION) -> str:
    """SHA-256 of ``data``, spelled for ``version``."""
    return spell(hashlib.sha256(data).hexdigest(), version)


def document(content: Mapping[str, Any], version: int = CURRENT_VERSION) -> bytes:
    """The bytes hashed for a JSON object: RFC 8785 from v2 on, Python's spelling in v1."""
    return canonical_bytes(content) if version >= 2 else legacy_json_v1(content).encode()


def link_hash(content: Mapping[str, Any] | bytes, previous_hash: str, version: int = CURRENT_VERSION) -> str:
    """The hash of one chain element: SHA-256 of its document followed by ``previous_hash`` (ASCII), spelled for
    ``version``. ``content`` is the element's JSON object, or its document already spelled (the audit log writes its
    own, embedding the JSON text it stores)."""
    data = content if isinstance(content, bytes) else document(content, version)
    return spell(hashlib.sha256(data + previous_hash.encode("ascii")).hexdigest(), version)


def link_problem(*, sequence: int, previous_hash: str, stored_hash: str, expected_sequence: int,
                 expected_previous: str, recompute: Callable[[int], str]) -> tuple[str, str] | None:
    """What is wrong with one element given its predecessor (``expected_*``: its sequence + 1 and its hash, or 1
    and the genesis hash), as ``(kind, detail)``, or None.

    In this order, because it makes the report name the cause: a missing sequence is a ``GAP``, a ``previous_hash``
    that is not the predecessor's hash a broken link (``LINK_BROKEN``), and only then is the content recomputed
    (``recompute(version)``, in the stored hash's format) and compared (``CONTENT_ALTERED``). A format older than
    the predecessor's, or unknown, is altered content too: the code never writes one.
    """
    if sequence != expected_sequence:
        return GAP, (f"sequence {expected_sequence} is missing" if sequence > expected_sequence
                     else f"found {sequence} after {expected_sequence - 1}")
    if previous_hash != expected_previous:
        return LINK_BROKEN, (f"previous_hash {previous_hash[:16]}… is not the hash of the element before it "
                             f"{expected_previous[:16]}…")
    try:
        version = hash_version(stored_hash)
    except UnknownHashVersion as exc:
        return CONTENT_ALTERED, str(exc)
    if expected_previous != GENESIS_HASH and version < hash_version(expected_previous):
        return CONTENT_ALTERED, f"hash format v{version} after a v{hash_version(expected_previous)} element"
    recomputed = recompute(version)
    if recomputed != stored_hash:
        return CONTENT_ALTERED, f"stored hash {stored_hash[:16]}… but the content hashes to {recomputed[:16]}…"
    return None


def link_kind(row: Any, expected_sequence: int, expected_previous: str, recompute: Callable[[int], str]) -> str | None:
    """``link_problem``'s kind for a stored element with ``sequence``, ``previous_hash`` and ``hash`` attributes (a
    model row), for verifiers that word the problem themselves; None when the link holds."""
    found = link_problem(sequence=row.sequence, previous_hash=row.previous_hash, stored_hash=row.hash,
                         expected_sequence=expected_sequence, expected_previous=expected_previous, recompute=recompute)
    return None if found is None else found[0]
