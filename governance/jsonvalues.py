"""Contexts as plain JSON values: what is evaluated is exactly what is stored (and can be replayed)."""
from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from core.errors import InvalidInput

MAX_DEPTH = 32


def json_ready(value: Any, *, field: str = "context", _depth: int = 0) -> Any:
    """``value`` as JSON types only. UUIDs and dates become strings (timestamps ISO 8601 UTC, which compare
    correctly as strings), Decimals numbers; NUL characters are dropped (PostgreSQL refuses them). Anything
    else is refused with a 400 naming ``field``."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if _depth > MAX_DEPTH:
        raise InvalidInput(fields={field: [f"nested deeper than {MAX_DEPTH} levels"]})
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(fields={field: ["NaN and infinity are not JSON numbers"]})
        return value
    if isinstance(value, dict):
        return {str(k).replace("\x00", ""): json_ready(v, field=field, _depth=_depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v, field=field, _depth=_depth + 1) for v in value]
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidInput(fields={field: ["NaN and infinity are not JSON numbers"]})
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidInput(fields={field: ["timestamps must carry a time zone"]})
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    raise InvalidInput(fields={field: [f"{type(value).__name__} is not a JSON value"]})
