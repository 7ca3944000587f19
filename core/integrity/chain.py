"""Versioned hashes. Every hash the project writes carries its format version: ``v2:`` followed by 64 lowercase hex
digits of SHA-256 (format v2: the bytes hashed are RFC 8785 canonical JSON, ``core.integrity.canonical``). A hash of
64 hex digits and no prefix is format v1, written before versions existed (Python's JSON spelling,
``legacy_json_v1``); it is verified with the v1 encoder, which is kept unchanged. A verifier reads the version off the
stored hash and recomputes with that version's encoder, so every record written by either format still verifies.
"""
from __future__ import annotations

import hashlib
import re

CURRENT_VERSION = 2
VERSIONS = frozenset({1, 2})
# Room for the prefix and 64 hex digits (the columns that hold versioned hashes).
HASH_MAX_LENGTH = 80
GENESIS_HASH = "0" * 64

_VERSIONED = re.compile(r"v([0-9]+):")


class UnknownHashVersion(ValueError):
    """A stored hash names a format this code does not know."""


def hash_version(stored: str) -> int:
    """The format version of a stored hash: the number of its ``vN:`` prefix, 1 for a bare hex digest."""
    match = _VERSIONED.match(stored)
    if match is None:
        return 1
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
