"""Keeps HTML out of the API (any error response under /api/ that is not already JSON becomes JSON) and its answers
out of caches, gives the API its own Content-Security-Policy, and keeps the console's cookie-based middleware off
the API."""
from __future__ import annotations

from collections.abc import Callable

from csp.constants import HEADER, NONE
from csp.middleware import CSPMiddleware, PolicyParts
from csp.utils import build_policy
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

from core.api import error_response

API_PREFIX = "/api/"
_MESSAGES = {
    400: gettext_noop("Bad request."),
    403: gettext_noop("Forbidden."),
    404: gettext_noop("Not found."),
    405: gettext_noop("Method not allowed."),
    413: gettext_noop("The request body is too large."),
    500: gettext_noop("An unexpected error occurred. It has been logged."),
}


class ApiErrorMiddleware:
    """Under /api/: an error that is not JSON becomes the JSON error shape, and no answer is stored by a cache
    (``Cache-Control: no-store``). Every API answer is one caller's own data, and several carry a secret shown
    once (an app's webhook secret, a credential's secret, a rotated webhook secret, a session token, a payment's
    client secret): kept out of browser and proxy caches all together, so that an endpoint added later cannot
    forget it. A view that sets its own ``Cache-Control`` keeps it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith("/api/"):
            return response
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith("application/json"):
            status = response.status_code
            replacement = error_response(status, _(_MESSAGES.get(status, gettext_noop("The request failed."))))
            for header in ("Retry-After", "WWW-Authenticate", "Allow"):
                if header in response:
                    replacement[header] = response[header]
            response = replacement
        if "Cache-Control" not in response:
            response["Cache-Control"] = "no-store"
        return response


# The API answers JSON, which a browser never runs: nothing may load, run or frame in its name.
API_CONTENT_SECURITY_POLICY = {"default-src": [NONE], "frame-ancestors": [NONE]}


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware (the policy in ``CONTENT_SECURITY_POLICY``, for the console), with
    ``API_CONTENT_SECURITY_POLICY`` for every answer under /api/ whose view did not choose its own (the docs page
    does, with django-csp's ``csp`` decorator). ``get_policy_parts`` is django-csp's documented extension point.

    django-csp builds the header again for every response (twice: the policy and the report-only one); under /api/
    that was an eighth of the instructions an app read spends in the web process. The API's header is the same on
    every answer, so it is built once: an answer under /api/ whose policy parts are the API's own (no view policy, no
    nonce used) and that needs no report-only header gets it as is. Anything else goes through django-csp, as does
    a 404 or 500 in DEBUG (which django-csp leaves without a header, for Django's debug pages). A view under /api/
    leaves the API's policy by choosing its own: django-csp's ``csp_exempt`` is not looked at there."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        super().__init__(get_response)
        report_only = getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None)
        self.api_header = None if report_only else build_policy(config=API_CONTENT_SECURITY_POLICY)

    def get_policy_parts(self, request: HttpRequest, response: HttpResponse, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only and parts.config is None and request.path_info.startswith(API_PREFIX):
            parts.config = API_CONTENT_SECURITY_POLICY
        return parts

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if (self.api_header is None or not request.path_info.startswith(API_PREFIX)
                or (settings.DEBUG and response.status_code in (404, 500))
                or self.get_policy_parts(request, response) != _API_POLICY_PARTS):
            return super().process_response(request, response)
        if HEADER not in response:
            response[HEADER] = self.api_header
        return response


_API_POLICY_PARTS = PolicyParts(config=API_CONTENT_SECURITY_POLICY)


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
