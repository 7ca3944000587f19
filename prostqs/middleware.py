"""Keeps HTML out of the API: any error response under /api/ that is not already JSON becomes JSON."""
from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from prostqs.api import error_response

_MESSAGES = {
    400: gettext_noop("Bad request."),
    403: gettext_noop("Forbidden."),
    404: gettext_noop("Not found."),
    405: gettext_noop("Method not allowed."),
    413: gettext_noop("The request body is too large."),
    500: gettext_noop("An unexpected error occurred. It has been logged."),
}


class ApiErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            request.path.startswith("/api/")
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            status = response.status_code
            replacement = error_response(status, _(_MESSAGES.get(status, gettext_noop("The request failed."))))
            for header in ("Retry-After", "WWW-Authenticate", "Allow"):
                if header in response:
                    replacement[header] = response[header]
            return replacement
        return response
