"""Secrets: AES-256-GCM encrypted values with versions, rotation and revocation.

A secret is named by ``(app_id, name, environment)``; ``app_id`` None is a global secret. Each put writes a new
version under the newest master key and marks the previous active version ``rotated``. Values leave this module
only as the return value of ``secret_get``: never in a log line, an audit record, an exception message, ``str()``
or ``repr()``.
"""
from __future__ import annotations

import json
import secrets as token_source
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from core.errors import Gone, InvalidInput, NotFound
from infrastructure import crypto, events
from infrastructure.models import Secret


def aad_for(secret: Secret) -> bytes:
    """The additional authenticated data: the ciphertext only opens on the row (and version) it was made for."""
    return json.dumps(["prostqs.secret", str(secret.id), str(secret.app_id) if secret.app_id else None,
                       secret.environment, secret.name, secret.version], separators=(",", ":")).encode()


def _environment(environment: str | None) -> str:
    environment = environment or settings.SECRETS_ENVIRONMENT
    if environment not in Secret.Environment.values:
        raise InvalidInput(_("Unknown environment %(env)r.") % {"env": environment}, code="unknown_environment",
                           fields={"environment": [_("Choose one of: %(values)s.")
                                                   % {"values": ", ".join(Secret.Environment.values)}]})
    return environment


def _app_id(app_id: Any) -> uuid.UUID | None:
    if app_id in (None, ""):
        return None
    try:
        return app_id if isinstance(app_id, uuid.UUID) else uuid.UUID(str(app_id))
    except ValueError:
        raise InvalidInput(_("app_id must be a UUID."), code="invalid_app_id",
                           fields={"app_id": [_("Must be a valid UUID.")]}) from None


def _name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 128:
        raise InvalidInput(_("A secret needs a name of 1 to 128 characters."), code="invalid_secret_name",
                           fields={"name": [_("Ensure this field has 1 to 128 characters.")]})
    return name


def _versions(name: str, app_id: uuid.UUID | None, environment: str) -> QuerySet[Secret]:
    qs = Secret.objects.filter(name=name, environment=environment)
    return qs.filter(app_id=app_id) if app_id else qs.filter(app_id__isnull=True)


def _serialise_writers(name: str, app_id: uuid.UUID | None, environment: str) -> None:
    """Two puts of the same secret must not both pick the next version number."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                           [f"prostqs.secret:{app_id}:{environment}:{name}"])
    # SQLite: atomic() begins IMMEDIATE, so this transaction is already the only writer.


def metadata_of(secret: Secret) -> dict[str, Any]:
    """What may be shown or recorded about a version: everything but the value and its ciphertext."""
    return {"name": secret.name, "app_id": secret.app_id, "environment": secret.environment, "type": secret.type,
            "version": secret.version, "status": secret.status, "expires_at": secret.expires_at,
            "key_id": secret.key_id}


@transaction.atomic
def secret_put(
    name: str,
    value: str,
    *,
    app_id: Any = None,
    type: str = Secret.Type.API_KEY,
    environment: str | None = None,
    expires_at: datetime | None = None,
) -> Secret:
    """Store ``value`` as the new active version of the secret; the previous active version becomes ``rotated``."""
    name, app_id, environment = _name(name), _app_id(app_id), _environment(environment)
    if not isinstance(value, str) or not value:
        raise InvalidInput(_("A secret value is a non-empty string."), code="invalid_secret_value",
                           fields={"value": [_("This field may not be blank.")]})
    if type not in Secret.Type.values:
        choices = ", ".join(Secret.Type.values)
        raise InvalidInput(_("Unknown secret type %(type)r.") % {"type": type}, code="unknown_secret_type",
                           fields={"type": [_("Choose one of: %(values)s.") % {"values": choices}]})
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput(_("The expiry must be in the future."), code="expiry_in_past",
                           fields={"expires_at": [_("Ensure this date is in the future.")]})
    _serialise_writers(name, app_id, environment)
    versions = _versions(name, app_id, environment)
    previous = list(versions.select_for_update().filter(status=Secret.Status.ACTIVE))
    latest = versions.order_by("-version").values_list("version", flat=True).first()
    secret = Secret(id=uuid.uuid4(), app_id=app_id, name=name, type=type, environment=environment,
                    version=(latest or 0) + 1, status=Secret.Status.ACTIVE, expires_at=expires_at)
    secret.encrypted_value = crypto.encrypt(value, aad=aad_for(secret))
    secret.save(force_insert=True)
    if previous:
        versions.filter(id__in=[p.id for p in previous]).update(status=Secret.Status.ROTATED)
    audit_record(events.SECRET_ROTATED if latest else events.SECRET_CREATED, action="put", target_type="secret",
                 target_id=secret.id, before=metadata_of(previous[0]) if previous else None,
                 after=metadata_of(secret), metadata={"rotated_versions": [p.version for p in previous]},
                 app_id=app_id)
    return secret


def secret_get(name: str, *, app_id: Any = None, environment: str | None = None) -> str:
    """The active value. NotFound when there is none (never stored, or revoked); Gone when it expired."""
    name, app_id, environment = _name(name), _app_id(app_id), _environment(environment)
    secret = _versions(name, app_id, environment).filter(status=Secret.Status.ACTIVE).order_by("-version").first()
    if secret is None:
        raise NotFound(_("No active secret %(name)r.") % {"name": name}, code="secret_not_found")
    if secret.expires_at is not None and secret.expires_at <= timezone.now():
        raise Gone(_("Secret %(name)r expired.") % {"name": name}, code="secret_expired")
    return crypto.decrypt(secret.encrypted_value, aad=aad_for(secret))


def secret_get_recent(name: str, *, rotated_within: timedelta, app_id: Any = None,
                      environment: str | None = None) -> list[str]:
    """The active value first, then the values of the versions a rotation replaced less than ``rotated_within``
    ago (newest first): for keys that must keep working for a while after a rotation, such as webhook signing
    secrets that receivers update on their own schedule. Revoked and expired versions are never returned.
    NotFound when there is no active version (an expired active version is Gone, as in ``secret_get``)."""
    name, app_id, environment = _name(name), _app_id(app_id), _environment(environment)
    versions = list(_versions(name, app_id, environment).exclude(status=Secret.Status.REVOKED).order_by("-version"))
    if not versions or versions[0].status != Secret.Status.ACTIVE:
        raise NotFound(_("No active secret %(name)r.") % {"name": name}, code="secret_not_found")
    now = timezone.now()
    if versions[0].expires_at is not None and versions[0].expires_at <= now:
        raise Gone(_("Secret %(name)r expired.") % {"name": name}, code="secret_expired")
    in_force = [versions[0]]
    for newer, older in pairwise(versions):
        # A version was replaced when the next one was written; a gap (a revoked version between) ends the run.
        if older.version != newer.version - 1 or newer.created_at <= now - rotated_within:
            break
        if older.expires_at is None or older.expires_at > now:
            in_force.append(older)
    return [crypto.decrypt(s.encrypted_value, aad=aad_for(s)) for s in in_force]


def secret_versions(name: str, *, app_id: Any = None, environment: str | None = None) -> QuerySet[Secret]:
    """Every version of a secret, newest first (the ciphertext is not loaded)."""
    name, app_id, environment = _name(name), _app_id(app_id), _environment(environment)
    return _versions(name, app_id, environment).defer("encrypted_value").order_by("-version")


@transaction.atomic
def secret_revoke(name: str, *, app_id: Any = None, environment: str | None = None, version: int | None = None,
                  reason: str = "") -> list[int]:
    """Revoke one version, or every version not yet revoked. Returns the revoked version numbers."""
    name, app_id, environment = _name(name), _app_id(app_id), _environment(environment)
    targets = _versions(name, app_id, environment).select_for_update().exclude(status=Secret.Status.REVOKED)
    if version is not None:
        targets = targets.filter(version=version)
    found = list(targets.order_by("version"))
    if not found:
        raise NotFound(_("No version of %(name)r to revoke.") % {"name": name}, code="secret_not_found")
    Secret.objects.filter(id__in=[s.id for s in found]).update(status=Secret.Status.REVOKED)
    revoked = [s.version for s in found]
    audit_record(events.SECRET_REVOKED, action="revoke", target_type="secret", target_id=found[-1].id,
                 before={"statuses": {str(s.version): s.status for s in found}},
                 after={"status": Secret.Status.REVOKED}, reason=reason,
                 metadata={"name": name, "environment": environment, "versions": revoked}, app_id=app_id)
    return revoked


def secret_rotate(secret: Secret, *, value: str | None = None) -> Secret:
    """A new version of the same secret: ``value``, or a fresh random one (256 bits) when omitted."""
    return secret_put(secret.name, value or token_source.token_urlsafe(32), app_id=secret.app_id, type=secret.type,
                      environment=secret.environment, expires_at=None)


@dataclass
class RewrapReport:
    total: int = 0
    rewrapped: int = 0
    already_current: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # secret id -> reason (never a value)


def secrets_rewrap(*, batch_size: int = 100,
                   progress: Callable[[RewrapReport], None] | None = None) -> RewrapReport:
    """Re-encrypt every secret not under the newest master key, one committed batch at a time.

    Safe to interrupt and rerun: each batch commits on its own, and the next run picks up the rows still under an
    older key. Rows that cannot be decrypted are reported and left as they are.
    """
    ring = crypto.keyring()
    current = f"{crypto.FORMAT}:{ring.primary}:"
    report = RewrapReport(total=Secret.objects.count())
    report.already_current = Secret.objects.filter(encrypted_value__startswith=current).count()
    last_id = None
    while True:
        with transaction.atomic():
            batch_qs = Secret.objects.exclude(encrypted_value__startswith=current).order_by("id")
            if last_id is not None:
                batch_qs = batch_qs.filter(id__gt=last_id)
            batch = list(batch_qs.select_for_update(skip_locked=True)[:batch_size])
            if not batch:
                break
            last_id = batch[-1].id
            changed, from_keys = [], set()
            for secret in batch:
                try:
                    value = crypto.decrypt(secret.encrypted_value, aad=aad_for(secret), ring=ring)
                except crypto.SecretDecryptionError as exc:
                    report.failed[str(secret.id)] = str(exc)
                    continue
                from_keys.add(secret.key_id)
                secret.encrypted_value = crypto.encrypt(value, aad=aad_for(secret), ring=ring)
                changed.append(secret)
            if changed:
                Secret.objects.bulk_update(changed, ["encrypted_value"])
                audit_record(events.SECRETS_REWRAPPED, action="rewrap",
                             metadata={"count": len(changed), "to_key": ring.primary, "from_keys": sorted(from_keys),
                                       "secrets": [str(s.id) for s in changed]})
        report.rewrapped += len(changed)
        if progress:
            progress(report)
    return report
