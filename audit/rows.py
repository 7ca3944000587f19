"""Row digests: what an audit event records of the row it created, so that the row can be proven later.

The audit log is chained and signed; the tables it describes are not. A service that inserts a row into an
append-only table records, in the audit event of the same transaction, the SHA-256 of the row's content
(``metadata.row_digest``): ``{"columns": [...], "sha256": "<hex>"}``. ``verify_all`` recomputes it from the row
and reports a row changed behind the application's back (by a role that can UPDATE, or a superuser stepping
around the triggers), a row inserted without its event, and an event whose row is gone.

The digest is ``core.integrity.chain.sha256_hash(document(content))`` (format v2: ``"v2:"`` and the hex SHA-256 of
the RFC 8785 canonical JSON of ``content``; digests recorded before hashes carried a version are format v1, the bare
hex over Python's spelling, and are checked as such), where ``content`` maps each listed column name to its value:
text as a string, integers and floats as JSON numbers, booleans, ``null``, UUIDs lowercase and hyphenated,
timestamps as ``audit.chain.format_time`` (UTC, six fractional digits, ``Z``), JSON columns as their value. The
column list travels in the event, so a column added to the table later is simply outside older rows' digests.

The digest is computed from the row read back from the database, never from the caller's objects: the bytes a
verifier reads later are the bytes that were hashed (a JSON column stored as ``jsonb`` may spell a number
differently from the Python value that was written).
"""
from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import models

from audit import chain
from core.integrity.chain import CURRENT_VERSION, document, sha256_hash


def columns_of(model: type[models.Model]) -> list[str]:
    """Every concrete column of ``model``, in the model's field order."""
    return [f.column for f in model._meta.concrete_fields]


def _attnames(model: type[models.Model], columns: Iterable[str]) -> list[str]:
    by_column = {f.column: f.attname for f in model._meta.concrete_fields}
    return [by_column[c] for c in columns]


def plain(value: Any) -> Any:
    """A column's value as the digest's JSON spells it."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime.datetime):
        return chain.format_time(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def digest_of(content: dict[str, Any], version: int = CURRENT_VERSION) -> str:
    """The digest of one row's ``content`` in format ``version`` (a verifier passes the recorded digest's)."""
    return sha256_hash(document({k: plain(v) for k, v in content.items()}, version), version)


def unknown_columns(model: type[models.Model], columns: Iterable[str]) -> list[str]:
    known = set(columns_of(model))
    return [c for c in columns if c not in known]


def rows_content(model: type[models.Model], pks: Sequence[Any], columns: Sequence[str]) -> dict[Any, dict]:
    """``{pk: {column: value}}`` of the rows with these primary keys, as the database holds them."""
    names = _attnames(model, columns)
    pk_name = model._meta.pk.attname
    found = {}
    for values in model._base_manager.filter(pk__in=list(pks)).values_list(pk_name, *names):
        found[values[0]] = dict(zip(columns, values[1:], strict=True))
    return found


def group_digest(contents: Iterable[dict[str, Any]], version: int = CURRENT_VERSION) -> str:
    """The digest of several rows written together: SHA-256 over each row's digest (as written, ASCII) one after
    the other, the rows in the order of their ``id`` column as text; in format ``version`` throughout."""
    ordered = sorted(contents, key=lambda c: str(c["id"]))
    return sha256_hash(b"".join(digest_of(c, version).encode("ascii") for c in ordered), version)


def group_record(model: type[models.Model], *, created_at: datetime.datetime) -> dict[str, Any]:
    """What an audit event records of every ``model`` row written at ``created_at`` (one job's output):
    ``{"created_at", "rows", "columns", "sha256"}``, read back from the database in the caller's transaction."""
    columns = columns_of(model)
    names = _attnames(model, columns)
    contents = [dict(zip(columns, values, strict=True)) for values in
                model._base_manager.filter(created_at=created_at).values_list(*names)]
    return {"created_at": chain.format_time(created_at), "rows": len(contents), "columns": columns,
            "sha256": group_digest(contents)}


def row_digest(instance: models.Model, *, columns: Sequence[str] | None = None) -> dict[str, Any]:
    """The digest an audit event records of ``instance``'s row (call after the insert, in its transaction)."""
    model = type(instance)
    columns = list(columns or columns_of(model))
    content = rows_content(model, [instance.pk], columns).get(instance.pk)
    if content is None:
        raise LookupError(f"{model._meta.db_table} {instance.pk}: no such row to digest")
    return {"columns": columns, "sha256": digest_of(content)}
