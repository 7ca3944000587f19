"""OpenAPI postprocessing: every operation documents the errors any endpoint can answer.

Whatever an endpoint documents itself, the API plumbing can answer 400 (malformed JSON, unknown fields), 401 and
403 (credentials, scopes), 404 (an unknown or another tenant's id, a page past the end), 413 (a body over
``DATA_UPLOAD_MAX_MEMORY_SIZE``) and, for every POST, PUT, PATCH and DELETE (a body sent to one is read, whether the
operation documents a body or not), 415 (not JSON in UTF-8): all in the one error shape.
"""
from __future__ import annotations

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["code", "message", "fields"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                       "fields": {"type": "object", "additionalProperties": True}},
        "additionalProperties": True,
    }},
}
COMMON = {
    "400": "Invalid input (validation_error, parse_error, …).",
    "401": "Missing or invalid credentials.",
    "403": "The credentials lack the scope, or the caller may not do this.",
    "404": "Not found (also another tenant's object, or a page past the end).",
    "413": "The request body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE.",
}


def add_common_errors(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ErrorBody", ERROR_SCHEMA)
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            statuses = dict(COMMON)
            if "requestBody" in operation or method in ("post", "put", "patch", "delete"):
                statuses["415"] = "The body is not application/json in UTF-8."
            for status, description in statuses.items():
                operation["responses"].setdefault(status, {
                    "description": description, "content": {"application/json": {"schema": ref}}})
    return result
