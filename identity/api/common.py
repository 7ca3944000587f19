"""Shared pieces of the identity API: error documentation, request helpers."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

from audit.context import client_ip

ErrorSerializer = inline_serializer("ErrorBody", fields={
    "error": inline_serializer("ErrorDetail", fields={
        "code": serializers.CharField(help_text="Machine-readable code, e.g. scope_required."),
        "message": serializers.CharField(),
        "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField()),
                                        help_text="Per-field messages."),
    }),
})

_DESCRIPTIONS = {
    400: "Invalid input (validation_error and service codes).",
    401: "Missing or invalid credentials (WWW-Authenticate names the scheme).",
    403: "Authenticated but not allowed (scope_required, app_credentials_required, signed_in_user_required).",
    404: "Not found, or not in the caller's tenant.",
    409: "Conflicts with the current state.",
    410: "No longer usable (used, burned or expired verification).",
    429: "Limit reached; Retry-After says when to try again.",
}


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    return {s: OpenApiResponse(ErrorSerializer, description=_DESCRIPTIONS[s]) for s in statuses}


def request_ip(request) -> str | None:
    return client_ip(request)
