"""Keyed hashes, random tokens and short-lived sealed values for the identity app.

Why HMAC-SHA256 and not a password hash (PBKDF2, Argon2) for app secrets and session tokens: both are 256-bit
random values, so guessing them is hopeless whatever the hash's speed; a deliberately slow hash would only add its
cost to every API request, since each one authenticates. The server key (``IDENTITY_HASH_KEY``) means a copy of the
database alone does not let anyone check guesses offline, which matters for 6-digit OTP codes: there are only a
million of them, and without the key their hashes say nothing. Comparisons use ``hmac.compare_digest``.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

PUBLIC_KEY_PREFIX = "pq_pk_"
SECRET_PREFIX = "pq_sk_"  # noqa: S105 - a public marker that prefixes secrets, not a secret
SESSION_TOKEN_PREFIX = "pq_st_"  # noqa: S105 - a public marker that prefixes tokens, not a token


@lru_cache(maxsize=8)
def _subkey(master: str, purpose: str) -> bytes:
    return hmac.new(master.encode(), f"prostqs.identity.{purpose}".encode(), hashlib.sha256).digest()


def _master() -> str:
    return settings.IDENTITY_HASH_KEY or "derived-from-secret-key:" + settings.SECRET_KEY


def keyed_hash(purpose: str, value: str) -> str:
    """HMAC-SHA256 of ``value`` under the server key for ``purpose``, in lowercase hex."""
    return hmac.digest(_subkey(_master(), purpose), value.encode(), "sha256").hex()


def hashes_match(expected: str, candidate: str) -> bool:
    return hmac.compare_digest(expected.encode(), candidate.encode())


def new_token(prefix: str, nbytes: int = 32) -> str:
    """A URL-safe random token from the operating system's CSPRNG (``nbytes`` * 8 bits of entropy)."""
    return prefix + secrets.token_urlsafe(nbytes)


def new_otp_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def seal(purpose: str, plaintext: str, *, associated: str) -> str:
    """AES-256-GCM encrypt ``plaintext`` bound to ``associated`` (opened only with the same binding)."""
    nonce = secrets.token_bytes(12)
    box = AESGCM(_subkey(_master(), "seal." + purpose)).encrypt(nonce, plaintext.encode(), associated.encode())
    return base64.urlsafe_b64encode(nonce + box).decode()


class SealBroken(ValueError):
    """A sealed value was altered, or opened under another key or binding."""


def unseal(purpose: str, sealed: str, *, associated: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(sealed.encode())
        return AESGCM(_subkey(_master(), "seal." + purpose)).decrypt(raw[:12], raw[12:], associated.encode()).decode()
    except (InvalidTag, ValueError) as exc:
        raise SealBroken(str(exc) or "sealed value cannot be opened") from None
