"""Keeps HTML out of the API (any error response under /api/ that is not already JSON becomes JSON), and keeps the
console's cookie-based middleware off the API."""
from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.middleware.locale import LocaleMiddleware
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django_otp.middleware import OTPMiddleware

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


API_PREFIX = "/api/"


def _console_only(base: type, doc: str) -> type:
    """``base`` for the console and every other page, skipped for requests under /api/.

    The API authenticates each request by its own credentials (app keys, bearer session tokens) and keeps no
    cookie state: console sessions, the console's sign-in and second factor, and flash messages do not apply to
    it, and running them on every API call cost more than its queries (measured with ``make bench``). CSRF stays
    Django's own middleware, which the deployment checks look for; API views are all CSRF-exempt.
    """

    class ConsoleOnly(base):
        __doc__ = doc

        def __call__(self, request: HttpRequest) -> HttpResponse:
            if request.path_info.startswith(API_PREFIX):
                return self.get_response(request)
            return super().__call__(request)

    ConsoleOnly.__name__ = ConsoleOnly.__qualname__ = f"Console{base.__name__}"
    return ConsoleOnly


ConsoleSessionMiddleware = _console_only(SessionMiddleware, "Console sessions (cookies), not under /api/.")
ConsoleAuthenticationMiddleware = _console_only(
    AuthenticationMiddleware, "``request.user`` from the console session; under /api/ DRF's authentication sets it.")
ConsoleOTPMiddleware = _console_only(OTPMiddleware, "The console's second factor, not under /api/.")
ConsoleMessageMiddleware = _console_only(MessageMiddleware, "The console's flash messages, not under /api/.")


class ConsoleLocaleMiddleware(LocaleMiddleware):
    """The console follows the browser's language; the API answers in ``LANGUAGE_CODE`` whatever the request's
    Accept-Language (its error ``code`` values are what clients act on, and one language keeps its messages
    consistent, ours and DRF's alike)."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(API_PREFIX):
            # A worker thread keeps the language a previous console request activated: reset it.
            translation.activate(settings.LANGUAGE_CODE)
            request.LANGUAGE_CODE = settings.LANGUAGE_CODE
            return self.get_response(request)
        return super().__call__(request)
