"""AES-256-GCM for secrets, under a keyring of master keys taken from the environment.

``SECRETS_MASTER_KEYS`` lists the keys newest first: ``"k2:<base64 32 bytes>,k1:<base64 32 bytes>"``. The first
key encrypts; every listed key decrypts, so a new key can be added in front, ``secrets_rewrap`` run, and the old key
dropped afterwards.

A stored value reads ``v1:<key id>:<nonce>:<ciphertext and tag>`` (base64url, no padding). The nonce is 96 random
bits per encryption; the additional authenticated data binds the ciphertext to its row, so a value copied onto
another row (or another version) does not decrypt.
"""
from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

FORMAT = "v1"
NONCE_BYTES = 12
KEY_BYTES = 32
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class SecretDecryptionError(Exception):
    """A stored value cannot be decrypted: altered, moved to another row, or under a key that left the keyring.

    The message names the row's key id and never any value.
    """


@dataclass(frozen=True)
class Keyring:
    keys: dict[str, bytes]  # insertion order: newest first
    primary: str

    def __repr__(self) -> str:  # key material never reaches a log line or a traceback
        return f"<Keyring primary={self.primary} ids={list(self.keys)}>"


def _decode_key(text: str) -> bytes:
    text = text.strip()
    padded = text + "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured("SECRETS_MASTER_KEYS: a key is not valid base64") from None


def parse_keyring(text: str) -> Keyring:
    """Parse ``"id:base64key,id:base64key"`` (newest first). Raises ImproperlyConfigured with no key material."""
    keys: dict[str, bytes] = {}
    for entry in (text or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not _KEY_ID.match(key_id):
            raise ImproperlyConfigured(
                "SECRETS_MASTER_KEYS: each entry is <id>:<base64 key>, ids of 1-32 letters, digits, - or _")
        if key_id in keys:
            raise ImproperlyConfigured(f"SECRETS_MASTER_KEYS: key id {key_id!r} appears twice")
        key = _decode_key(encoded)
        if len(key) != KEY_BYTES:
            raise ImproperlyConfigured(
                f"SECRETS_MASTER_KEYS: key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES}")
        keys[key_id] = key
    if not keys:
        raise ImproperlyConfigured("SECRETS_MASTER_KEYS is empty: no master key to encrypt secrets with")
    return Keyring(keys=keys, primary=next(iter(keys)))


_parsed: tuple[str, Keyring] | None = None


def keyring() -> Keyring:
    """The configured keyring (parsed once per distinct setting value)."""
    global _parsed
    text = getattr(settings, "SECRETS_MASTER_KEYS", "")
    cached = _parsed
    if cached is not None and cached[0] == text:
        return cached[1]
    ring = parse_keyring(text)
    _parsed = (text, ring)
    return ring


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encrypt(plaintext: str, *, aad: bytes, ring: Keyring | None = None) -> str:
    ring = ring or keyring()
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(ring.keys[ring.primary]).encrypt(nonce, plaintext.encode("utf-8"), aad)
    return f"{FORMAT}:{ring.primary}:{_b64(nonce)}:{_b64(sealed)}"


def key_id_of(token: str) -> str:
    parts = token.split(":")
    if len(parts) != 4 or parts[0] != FORMAT:
        raise SecretDecryptionError("stored secret value is not in the v1 format")
    return parts[1]


def decrypt(token: str, *, aad: bytes, ring: Keyring | None = None) -> str:
    ring = ring or keyring()
    key_id = key_id_of(token)
    key = ring.keys.get(key_id)
    if key is None:
        raise SecretDecryptionError(f"master key {key_id!r} is not in SECRETS_MASTER_KEYS")
    _, _, nonce_text, sealed_text = token.split(":")
    try:
        nonce, sealed = _unb64(nonce_text), _unb64(sealed_text)
    except (binascii.Error, ValueError):
        raise SecretDecryptionError(f"stored secret value under key {key_id!r} is not valid base64") from None
    if len(nonce) != NONCE_BYTES:
        raise SecretDecryptionError(f"stored secret value under key {key_id!r} has a malformed nonce")
    try:
        plain = AESGCM(key).decrypt(nonce, sealed, aad)
    except InvalidTag:
        raise SecretDecryptionError(
            f"stored secret value under key {key_id!r} failed authentication (altered or moved)") from None
    return plain.decode("utf-8")
