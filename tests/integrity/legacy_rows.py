"""Rows written by the code as it was before hashes carried a format version (format v1): an audit chain, two
approval requests with chained decisions, a decision lifecycle with its transitions, an idempotency key, and the
rows they stand on (people, authorities, parties, history). ``legacy/rows.json`` holds every column exactly as
PostgreSQL stored it, hashes included; ``load`` inserts them with plain SQL, past every model's save path, so that
the verifiers see what an older database holds."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from django.apps import apps
from django.db import connection, models

LEGACY = Path(__file__).parent / "legacy"

# Parents first: SQLite checks foreign keys as rows arrive when the test runs outside a transaction.
ORDER = ("users", "users_groups", "identity_historicaluser", "decision_authorities", "decision_authorities_history",
         "approval_requests", "approval_requests_history", "approval_request_parties", "approval_decisions",
         "decision_lifecycles", "lifecycle_transitions", "jobs", "idempotency_keys", "audit_events")


def rows() -> dict[str, dict[str, Any]]:
    """``{table: {"columns": [...], "rows": [[...], ...]}}``, a fresh copy each time (tests alter it)."""
    return json.loads((LEGACY / "rows.json").read_text(encoding="utf-8"))


def idempotency_request() -> dict[str, Any]:
    return json.loads((LEGACY / "idempotency_request.json").read_text(encoding="utf-8"))


def _fields(table: str) -> dict[str, models.Field]:
    for model in apps.get_models(include_auto_created=True):
        if model._meta.db_table == table:
            return {f.column: f for f in model._meta.concrete_fields}
    raise LookupError(table)


def _db_value(field: models.Field, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(field, (models.JSONField, models.TextField)) or field.get_internal_type() == "TextField":
        return value  # JSON kept as the text stored: its spelling is what was hashed
    return field.get_db_prep_value(field.to_python(value), connection, prepared=False)


def row_dict(data: dict[str, Any], table: str, index: int) -> dict[str, Any]:
    return dict(zip(data[table]["columns"], data[table]["rows"][index], strict=True))


def set_value(data: dict[str, Any], table: str, index: int, column: str, value: Any) -> None:
    data[table]["rows"][index][data[table]["columns"].index(column)] = value


def load(data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Insert ``data`` (the legacy rows unless given), table by table, with plain INSERTs."""
    data = copy.deepcopy(data) if data is not None else rows()
    assert set(data) == set(ORDER), sorted(set(data) ^ set(ORDER))
    with connection.cursor() as cursor:
        for table in ORDER:
            fields = _fields(table)
            columns = data[table]["columns"]
            ordered = data[table]["rows"]
            if table == "audit_events":  # the chain guard accepts an event only after its predecessor
                ordered = sorted(ordered, key=lambda r: r[columns.index("sequence")])
            names = ", ".join(connection.ops.quote_name(c) for c in columns)
            marks = ", ".join(["%s"] * len(columns))
            for row in ordered:
                cursor.execute(f"INSERT INTO {connection.ops.quote_name(table)} ({names}) VALUES ({marks})",
                               [_db_value(fields[c], v) for c, v in zip(columns, row, strict=True)])
    return data
