"""Signed checkpoints of the chain head, kept outside the database.

A checkpoint is a JSON file holding the head ``(sequence, hash, time)`` and an Ed25519 signature over
``audit.chain.checkpoint_message``. Anyone holding the public key can later prove that the events up to that
sequence are still there and unchanged, even against someone who can rewrite the whole database: they would need the
private key, which lives only in the environment (``AUDIT_CHECKPOINT_KEY``, 32 random bytes in base64).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from audit import chain

# DEBUG only: the demo signs with a key generated here, so that `make run` needs no configuration.
DEV_KEY_PATH = settings.BASE_DIR / "var" / "audit-checkpoint-key"


@dataclass(frozen=True)
class Checkpoint:
    sequence: int
    hash: str
    time: str
    key_id: str
    public_key: str
    signature: str
    path: Path | None = None

    def as_json(self) -> dict:
        return {"format": chain.CHECKPOINT_FORMAT, "sequence": self.sequence, "hash": self.hash, "time": self.time,
                "key_id": self.key_id, "public_key": self.public_key, "signature": self.signature}


class CheckpointError(Exception):
    """A checkpoint file that cannot be read or whose signature does not hold."""

    def __init__(self, message: str, *, sequence: int = 0) -> None:
        super().__init__(message)
        self.sequence = sequence


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short fingerprint of a public key: the first 16 hex digits of SHA-256 over its 32 raw bytes."""
    return hashlib.sha256(_raw_public(public_key)).hexdigest()[:16]


def _decode_key(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ImproperlyConfigured(f"{what} must be 32 bytes in base64 (44 characters)")
    return raw


def _development_key() -> bytes:
    path = Path(DEV_KEY_PATH)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(base64.b64encode(secrets.token_bytes(32)).decode())
        path.chmod(0o600)
    return _decode_key(path.read_text(), str(path))


def signing_key() -> Ed25519PrivateKey:
    """The checkpoint key from ``AUDIT_CHECKPOINT_KEY``; in DEBUG without one, a key generated into var/."""
    configured = settings.AUDIT_CHECKPOINT_KEY
    if configured:
        return Ed25519PrivateKey.from_private_bytes(_decode_key(configured, "AUDIT_CHECKPOINT_KEY"))
    if settings.DEBUG:
        return Ed25519PrivateKey.from_private_bytes(_development_key())
    raise ImproperlyConfigured("AUDIT_CHECKPOINT_KEY is not set: refusing to sign audit checkpoints without a key "
                               "from the environment")


def trusted_public_keys() -> dict[str, Ed25519PublicKey]:
    """Keys whose checkpoints are believed: the current signing key's and ``AUDIT_CHECKPOINT_PUBLIC_KEYS``
    (earlier keys after a rotation, or the only keys on a machine that verifies but does not sign)."""
    keys = [Ed25519PublicKey.from_public_bytes(_decode_key(text, "AUDIT_CHECKPOINT_PUBLIC_KEYS entry"))
            for text in settings.AUDIT_CHECKPOINT_PUBLIC_KEYS if text.strip()]
    if settings.AUDIT_CHECKPOINT_KEY or settings.DEBUG:
        keys.append(signing_key().public_key())
    return {key_id(k): k for k in keys}


def public_key_text(key: Ed25519PublicKey) -> str:
    return base64.b64encode(_raw_public(key)).decode()


def sign(*, sequence: int, hash: str, time: str, key: Ed25519PrivateKey | None = None) -> Checkpoint:
    key = key or signing_key()
    signature = key.sign(chain.checkpoint_message(sequence, hash, time))
    public = key.public_key()
    return Checkpoint(sequence=sequence, hash=hash, time=time, key_id=key_id(public),
                      public_key=public_key_text(public), signature=base64.b64encode(signature).decode())


def write(checkpoint: Checkpoint, directory: Path) -> Path:
    """Write atomically (a reader never sees half a file); the name sorts by sequence."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = checkpoint.time.replace("-", "").replace(":", "").replace(".", "")
    path = directory / f"checkpoint-{checkpoint.sequence:012d}-{stamp}.json"
    with tempfile.NamedTemporaryFile("w", dir=directory, prefix=".checkpoint-", suffix=".tmp", delete=False) as fh:
        json.dump(checkpoint.as_json(), fh, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    Path(fh.name).replace(path)
    return path


def load(directory: Path) -> list[Checkpoint]:
    """Every checkpoint in ``directory``, by sequence. Unreadable files raise ``CheckpointError``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint directory {directory} does not exist")
    found = []
    for path in sorted(directory.glob("checkpoint-*.json")):
        try:
            doc = json.loads(path.read_text())
            if doc.get("format") != chain.CHECKPOINT_FORMAT:
                raise ValueError(f"unknown format {doc.get('format')!r}")
            found.append(Checkpoint(sequence=int(doc["sequence"]), hash=str(doc["hash"]), time=str(doc["time"]),
                                    key_id=str(doc["key_id"]), public_key=str(doc["public_key"]),
                                    signature=str(doc["signature"]), path=path))
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{path.name} is not a readable checkpoint: {exc}") from exc
    return sorted(found, key=lambda c: (c.sequence, c.time))


def check_signature(checkpoint: Checkpoint, trusted: dict[str, Ed25519PublicKey]) -> None:
    """Raise ``CheckpointError`` unless a trusted key signed exactly this (sequence, hash, time)."""
    name = checkpoint.path.name if checkpoint.path else f"checkpoint {checkpoint.sequence}"
    key = trusted.get(checkpoint.key_id)
    if key is None:
        raise CheckpointError(f"{name} is signed by key {checkpoint.key_id}, which is not trusted",
                              sequence=checkpoint.sequence)
    try:
        signature = base64.b64decode(checkpoint.signature, validate=True)
        key.verify(signature, chain.checkpoint_message(checkpoint.sequence, checkpoint.hash, checkpoint.time))
    except (InvalidSignature, binascii.Error, ValueError):
        raise CheckpointError(f"{name}: the signature does not match its content", sequence=checkpoint.sequence) \
            from None
