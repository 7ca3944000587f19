#!/usr/bin/env python3
"""Verify a PROST-QS audit export (JSON lines from `manage.py audit_export`) without Django or the database.

    python tools/audit_verify_export.py audit.jsonl [--checkpoints DIR] [--public-key BASE64 ...]

Exit status: 0 when the chain is intact (and every checkpoint holds), 1 naming the first broken sequence and why,
2 when the input cannot be read. This file implements the audit chain of docs/specs/audit-chain.md on its own, with
the standard library only (plus `cryptography` for checkpoint signatures), so that it is an independent check of the
server's arithmetic. Both hash formats: v2 (`v2:` and 64 hex digits) and v1 (64 hex digits, older events).
"""
from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import re
import sys
from pathlib import Path

GENESIS_HASH = "0" * 64
CHAINED_FIELDS = ("id", "sequence", "type", "app_id", "actor_id", "actor_type", "target_id", "target_type", "action",
                  "before", "after", "metadata", "policy_id", "reason", "ip", "user_agent", "created_at")
# Stored as canonical JSON text: embedded in the hashed document as is, not as a quoted string.
JSON_FIELDS = ("before", "after", "metadata")
CHECKPOINT_FORMAT = "prostqs-audit-checkpoint/1"
V1_HASH = re.compile(r"[0-9a-f]{64}")


class Broken(Exception):
    def __init__(self, sequence: int, kind: str, detail: str) -> None:
        super().__init__(f"sequence {sequence}: {kind} ({detail})")
        self.sequence, self.kind = sequence, kind


class Unreadable(Exception):
    pass


def canonical(event: dict) -> bytes:
    members = []
    for key in sorted(CHAINED_FIELDS):
        value = event[key]
        if key in JSON_FIELDS and value is not None:
            if not isinstance(value, str):
                raise Unreadable(f"sequence {event.get('sequence')}: {key} must be the stored JSON text")
            text = value
        else:
            text = json.dumps(value, ensure_ascii=False)
        members.append(json.dumps(key) + ":" + text)
    return ("{" + ",".join(members) + "}").encode("utf-8")


def event_hash(event: dict, previous_hash: str, version: int = 2) -> str:
    """Format v2: "v2:" + hex SHA-256(document || previous_hash); format v1: the same digest, bare."""
    digest = hashlib.sha256(canonical(event) + previous_hash.encode("ascii")).hexdigest()
    return digest if version == 1 else f"v{version}:{digest}"


def hash_version(stored: str) -> int | None:
    """2 for "v2:" and 64 hex digits, 1 for 64 hex digits alone, None for anything else."""
    if stored.startswith("v2:") and V1_HASH.fullmatch(stored[3:]):
        return 2
    return 1 if V1_HASH.fullmatch(stored) else None


def load_checkpoints(directory: Path, pinned: list[str]) -> tuple[dict[int, list[dict]], list[str]]:
    """Checkpoints by sequence, each signature checked; and warnings for the reader."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        raise Unreadable("checking checkpoint signatures needs the 'cryptography' package") from None
    if not directory.is_dir():
        raise Unreadable(f"checkpoint directory {directory} does not exist")
    warnings = []
    trusted: dict[str, object] = {}
    for text in pinned:
        try:
            raw = base64.b64decode(text, validate=True)
            key = Ed25519PublicKey.from_public_bytes(raw)
        except (binascii.Error, ValueError):
            raise Unreadable(f"--public-key {text!r} is not a base64 Ed25519 public key") from None
        trusted[hashlib.sha256(raw).hexdigest()[:16]] = key
    found: dict[int, list[dict]] = {}
    for path in sorted(directory.glob("checkpoint-*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("format") != CHECKPOINT_FORMAT:
                raise ValueError(f"unknown format {doc.get('format')!r}")
            sequence, digest, time = int(doc["sequence"]), str(doc["hash"]), str(doc["time"])
            key_id, signature = str(doc["key_id"]), base64.b64decode(doc["signature"], validate=True)
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise Broken(0, "bad checkpoint", f"{path.name} is not a readable checkpoint: {exc}") from None
        if pinned:
            key = trusted.get(key_id)
        else:
            raw = base64.b64decode(doc.get("public_key", ""))
            key = Ed25519PublicKey.from_public_bytes(raw) if len(raw) == 32 else None
            if key is not None and hashlib.sha256(raw).hexdigest()[:16] != key_id:
                key = None
        if key is None:
            raise Broken(sequence, "bad checkpoint", f"{path.name} is signed by key {key_id}, which is not trusted")
        message = f"{CHECKPOINT_FORMAT}\n{sequence}\n{digest}\n{time}\n".encode("ascii", "replace")
        try:
            key.verify(signature, message)
        except InvalidSignature:
            raise Broken(sequence, "bad checkpoint", f"{path.name}: the signature does not match its content") \
                from None
        found.setdefault(sequence, []).append({"hash": digest, "file": path.name})
    if not pinned and found:
        warnings.append("signatures were checked against the keys inside the checkpoint files; pass --public-key to "
                        "pin the key you trust")
    if not found:
        warnings.append(f"no checkpoint files in {directory}")
    return found, warnings


def verify(lines, checkpoints: dict[int, list[dict]]) -> tuple[int, int, str]:
    """Return (events checked, head sequence, head hash); raise Broken at the first problem."""
    expected_sequence, expected_previous, checked = 1, GENESIS_HASH, 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
            sequence, previous_hash, stored_hash = event["sequence"], event["previous_hash"], event["hash"]
            missing = [f for f in CHAINED_FIELDS if f not in event]
        except (ValueError, KeyError, TypeError) as exc:
            raise Unreadable(f"line {number} is not an audit event: {exc}") from None
        if missing:
            raise Unreadable(f"line {number} lacks {', '.join(missing)}")
        if sequence != expected_sequence:
            missing_text = (f"sequence {expected_sequence} is missing" if sequence > expected_sequence
                            else f"found {sequence} after {expected_sequence - 1}")
            raise Broken(expected_sequence, "gap", f"{missing_text}; next present event is {sequence}")
        if previous_hash != expected_previous:
            raise Broken(sequence, "link broken", f"previous_hash {previous_hash[:16]}… does not match the hash of "
                                                  f"the event before it {expected_previous[:16]}…")
        version = hash_version(str(stored_hash))
        if version is None:
            raise Broken(sequence, "content altered", f"stored hash {str(stored_hash)[:16]}… is in no known format")
        if version < (hash_version(expected_previous) or 0):
            raise Broken(sequence, "content altered", f"hash format v{version} after a "
                                                      f"v{hash_version(expected_previous)} event")
        recomputed = event_hash(event, previous_hash, version)
        if recomputed != stored_hash:
            raise Broken(sequence, "content altered",
                         f"stored hash {stored_hash[:16]}… but the content hashes to {recomputed[:16]}…")
        for checkpoint in checkpoints.get(sequence, ()):
            if checkpoint["hash"] != stored_hash:
                raise Broken(sequence, "checkpoint mismatch",
                             f"{checkpoint['file']} signed hash {checkpoint['hash'][:16]}… for this event, the chain "
                             f"now holds {stored_hash[:16]}…")
        checked += 1
        expected_sequence, expected_previous = sequence + 1, stored_hash
    head = expected_sequence - 1
    for checkpoint in checkpoints.get(0, ()):
        if checkpoint["hash"] != GENESIS_HASH:
            raise Broken(0, "bad checkpoint", f"{checkpoint['file']} holds sequence 0 with a non-genesis hash")
    beyond = [s for s in sorted(checkpoints) if s > head]
    if beyond:
        checkpoint = checkpoints[beyond[-1]][0]
        raise Broken(head + 1, "truncated", f"the chain ends at sequence {head} but {checkpoint['file']} vouches for "
                                            f"sequence {beyond[-1]}: events were removed")
    return checked, head, expected_previous


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", help="JSON lines file from `manage.py audit_export` ('-' for standard input)")
    parser.add_argument("--checkpoints", metavar="DIR", help="directory of signed checkpoints to hold the chain to")
    parser.add_argument("--public-key", action="append", default=[], metavar="BASE64",
                        help="trusted Ed25519 public key (raw 32 bytes, base64); repeat for rotated keys")
    args = parser.parse_args(argv)
    try:
        checkpoints, warnings = ({}, [])
        if args.checkpoints:
            checkpoints, warnings = load_checkpoints(Path(args.checkpoints), args.public_key)
        for warning in warnings:
            print(f"note: {warning}", file=sys.stderr)
        if args.export == "-":
            checked, head, head_hash = verify(sys.stdin, checkpoints)
        else:
            with open(args.export, encoding="utf-8") as lines:
                checked, head, head_hash = verify(lines, checkpoints)
    except Broken as problem:
        print(f"audit chain broken at {problem}", file=sys.stderr)
        return 1
    except (Unreadable, OSError) as exc:
        print(f"cannot verify: {exc}", file=sys.stderr)
        return 2
    text = f"audit chain intact: {checked} events, head sequence {head} hash {head_hash[:16]}…"
    if args.checkpoints:
        text += f", {sum(len(c) for c in checkpoints.values())} signed checkpoints hold"
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
