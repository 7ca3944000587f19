"""API plumbing shared by every app: the one JSON error shape, pagination, the unknown-URL view.

Every error under ``/api/`` has the shape::

    {"error": {"code": "<machine_code>", "message": "<human text>", "fields": {"<field>": ["<message>"]}}}
"""
from __future__ import annotations

import codecs
import logging
import re
from typing import TYPE_CHECKING, Any

from django import db
from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import Http404, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, parsers, serializers, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from core.errors import ServiceError

if TYPE_CHECKING:
    from rest_framework.views import APIView

logger = logging.getLogger("core.api")

# Codes used when a status arrives without a more specific code (Django responses, middleware).
STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    423: "kill_switch_active",
    429: "throttled",
    500: "server_error",
    503: "service_unavailable",
}


def error_body(code: str, message: str, fields: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}, **extra}}


def _flatten(detail: Any) -> list[str]:
    if isinstance(detail, dict):
        return [f"{k}: {m}" for k, v in detail.items() for m in _flatten(v)]
    if isinstance(detail, (list, tuple)):
        return [m for item in detail for m in _flatten(item)]
    return [str(detail)]


def _fields(detail: Any) -> dict[str, Any]:
    """DRF's nested error detail as {field: [messages]} (nested serializers keep their nesting)."""
    if isinstance(detail, dict):
        out: dict[str, Any] = {}
        for key, value in detail.items():
            out[str(key)] = _fields(value) if isinstance(value, dict) else _flatten(value)
        return out
    return {"non_field_errors": _flatten(detail)}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """Turn any exception raised in an API view into the project's JSON error shape."""
    headers: dict[str, str] = {}
    if isinstance(exc, ServiceError):
        if exc.records_refusal:
            _record_refusal(exc, context)
        return Response(
            error_body(exc.code, exc.message, exc.fields, **exc.extra), status=exc.status, headers=exc.headers
        )
    if isinstance(exc, (Http404, ObjectDoesNotExist)):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=getattr(exc, "message_dict", None) or exc.messages)
    elif isinstance(exc, (db.OperationalError, db.InterfaceError)):
        # The database is unreachable (restarting, failing over): nothing was committed; the client may retry
        # (with the same Idempotency-Key where it has one).
        logger.warning("Database unavailable in API view %s: %s", context.get("view").__class__.__name__,
                       type(exc).__name__)
        return Response(error_body("service_unavailable", _("The service is briefly unavailable: retry shortly.")),
                        status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "1"})
    elif isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("payload_too_large", _("The request body is too large.")),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )

    if isinstance(exc, exceptions.APIException):
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        if isinstance(exc, exceptions.ValidationError):
            body = error_body("validation_error", _("Invalid input."), _fields(exc.detail))
        else:
            code = exc.get_codes() if not isinstance(exc.detail, (dict, list)) else exc.default_code
            message = " ".join(_flatten(exc.detail))
            body = error_body(str(code), message)
        return Response(body, status=exc.status_code, headers=headers)

    logger.exception("Unhandled error in API view %s", context.get("view").__class__.__name__)
    return Response(
        error_body("server_error", _("An unexpected error occurred. It has been logged.")),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def _record_refusal(exc: ServiceError, context: dict[str, Any]) -> None:
    """The refusal's audit event. The view's own transaction is gone by now (or, under ``@idempotent``, rolled back
    to its savepoint), so the event commits with whatever answers the request; a failure to write it is logged and
    the refusal still answered."""
    try:
        with transaction.atomic():
            exc.record_refusal()
    except db.DatabaseError:
        logger.exception("Could not record a refusal in API view %s", context.get("view").__class__.__name__)


def error_response(status_code: int, message: str | None = None, code: str | None = None) -> JsonResponse:
    """The JSON error shape for responses built outside DRF (middleware, URL resolver)."""
    code = code or STATUS_CODES.get(status_code, "error")
    return JsonResponse(error_body(code, message or _("The request failed.")), status=status_code)


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


MAX_JSON_DEPTH = 32
# What no PostgreSQL text or jsonb can hold and no UTF-8 encoder writes: NUL, and UTF-16 surrogates. JSON can spell
# a lone one (``"\udfff"``) and Python decodes it into a str (a well-formed pair becomes one character, so any
# surrogate left in a decoded string is a lone one).
_UNENCODABLE = re.compile("[\x00\ud800-\udfff]")


def _text_problem(text: str) -> str | None:
    found = _UNENCODABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return _("NUL characters (\\u0000) are not accepted.")
    return _("A lone UTF-16 surrogate (\\u%(code)04x) is not text that can be stored: a surrogate is only valid "
             "as half of a pair.") % {"code": ord(found.group())}


def json_problem(value: Any, depth: int = 0) -> str | None:
    """Why a decoded JSON value would be refused by the API's parser (nested more than ``MAX_JSON_DEPTH`` levels,
    or a string or key holding text that cannot be stored), or ``None``. One walk. Code that decodes JSON itself
    (a webhook's signed body) asks this too."""
    if depth > MAX_JSON_DEPTH:
        return _("JSON nested more than %(n)d levels deep.") % {"n": MAX_JSON_DEPTH}
    if isinstance(value, str):
        return _text_problem(value)
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _text_problem(key) or json_problem(item, depth + 1)
            if problem:
                return problem
    elif isinstance(value, list):
        for item in value:
            problem = json_problem(item, depth + 1)
            if problem:
                return problem
    return None


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser (strict: no NaN or Infinity), and: the body is UTF-8 (RFC 8259: JSON between systems is;
    another charset is 415), a JSON object, at most ``MAX_JSON_DEPTH`` levels deep, and holds no text that cannot
    be stored (NUL, or a lone UTF-16 surrogate, in any string or key: PostgreSQL's text and jsonb refuse both, and
    no field of ours means them). Anything else is a 400 ``parse_error`` before a view sees the body, on every
    endpoint (``read_bodies_before_views``)."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        try:
            utf8 = codecs.lookup(encoding).name == "utf-8"
        except LookupError:
            utf8 = False
        if not utf8:
            raise exceptions.UnsupportedMediaType(media_type, detail=_(
                "JSON is accepted in UTF-8 only, not in %(charset)s.") % {"charset": encoding[:40]})
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise exceptions.ParseError(_("JSON nested too deeply.")) from exc
        if not isinstance(data, dict):
            raise exceptions.ParseError(_("The body must be a JSON object."))
        problem = json_problem(data)
        if problem:
            raise exceptions.ParseError(problem)
        return data


_BODYLESS_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))


def read_bodies_before_views() -> None:
    """Make every DRF view parse a request's body once authentication and permissions have passed, before the
    handler runs, whether or not the handler reads it: a body the API cannot read is a 400 on every endpoint,
    not only on those whose handler happens to touch ``request.data`` (and not a 500 where the first reader is
    not a serializer, such as the Idempotency-Key fingerprint). A view that reads its raw bytes itself, after
    checking their signature, sets ``reads_raw_body = True``. Installed once from ``ProstqsConfig.ready()``;
    ``initial()`` is DRF's documented hook for what runs before the handler."""
    from rest_framework.views import APIView  # not at the top: DRF's views import this module's parser

    original = APIView.initial
    if getattr(original, "_reads_bodies", False):
        return

    def initial(self, request, *args, **kwargs):
        original(self, request, *args, **kwargs)
        if request.method not in _BODYLESS_METHODS and not getattr(self, "reads_raw_body", False):
            request.data  # noqa: B018 - parsing is the point: a ParseError here is the 400

    initial._reads_bodies = True
    APIView.initial = initial


class ContentNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, answered at once for what nearly every client sends (no Accept, ``*/*`` or
    ``application/json``) to a view with one renderer and no ``?format=``; anything else goes the whole way
    (an Accept the view cannot render is still 406)."""

    _ANY = frozenset(("*/*", "application/json"))

    def select_renderer(self, request, renderers, format_suffix=None):
        if (len(renderers) == 1 and format_suffix is None and request.META.get("HTTP_ACCEPT", "*/*") in self._ANY
                and not request.META.get("QUERY_STRING")):
            renderer = renderers[0]
            return renderer, renderer.media_type
        return super().select_renderer(request, renderers, format_suffix)


def rendered(view: APIView, data: Any) -> HttpResponse:
    """What ``Response(data)`` returned by ``view``'s handler answers, rendered at once into a plain ``HttpResponse``
    with the renderer content negotiation chose (``request.accepted_renderer`` and ``accepted_media_type``, DRF's
    documented attributes): the same bytes and headers, without the template-response machinery a ``Response``
    goes through (on the commonest app read, 4 % of the instructions the web process spends per request). DRF
    finalizes it as any response (``Allow``, ``Vary``); failures still raise, to DRF's exception handler."""
    request = view.request
    renderer = request.accepted_renderer
    content = renderer.render(data, request.accepted_media_type, view.get_renderer_context())
    if isinstance(content, str):
        content = content.encode(renderer.charset)
    media_type, charset = renderer.media_type, renderer.charset
    return HttpResponse(content, content_type=media_type if charset is None else f"{media_type}; charset={charset}")


class TextConverter:
    """URL converter ``<text:name>``: Django's ``str`` (one path segment) without NUL, which no PostgreSQL text can
    hold. A path with ``%00`` in such a segment matches nothing and answers 404, instead of failing in the
    database driver. Registered from ``ProstqsConfig.ready()``."""

    regex = "[^/\x00]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: strings, floats and booleans are refused (money is whole cents, never coerced)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class RefusesUnknownFields:
    """Refuses, in a request body, keys that are none of the serializer's writable fields: a misspelt or unexpected
    field is a 400 naming it (``Unknown field.``), never silently ignored. Query strings (a ``QueryDict``) are left
    alone: pagination and filters share them. Every serializer of the project inherits it, through ``Serializer``
    or ``ModelSerializer`` below (a test walks them all)."""

    def to_internal_value(self, data):
        if type(data) is dict:
            writable = [(name, field) for name, field in self.fields.items() if not field.read_only]
            known = {name for name, _field in writable} | {field.source for _name, field in writable if field.source}
            unknown = sorted(str(key) for key in data if key not in known)
            if unknown:
                raise exceptions.ValidationError({key: [_("Unknown field.")] for key in unknown})
        return super().to_internal_value(data)


class Serializer(RefusesUnknownFields, serializers.Serializer):
    """The project's ``Serializer``: DRF's, refusing unknown fields."""


class ModelSerializer(RefusesUnknownFields, serializers.ModelSerializer):
    """The project's ``ModelSerializer``: DRF's, refusing unknown fields."""
