"""``Idempotency-Key`` for every POST that moves money (billing, ads, agents).

A client sends a key of at most 255 visible ASCII characters with the request. The first request with a key runs
and its response (status and body) is stored with a hash of the request (method, path, canonical JSON body: see
``request_fingerprint``), per caller (an application, or a console user). Later requests with the same key:

* and the same request: get the stored response again, with ``Idempotent-Replayed: true``; nothing runs twice;
* and a different request: 409 ``idempotency_mismatch``;
* while the first is still running: they wait for it (PostgreSQL's unique index holds them) and then replay its
  response; if it takes longer than ``BILLING_IDEMPOTENCY_WAIT_SECONDS``, 409 ``idempotency_in_progress``.

The key row is written in the same transaction as the request's effect, so a request that crashes leaves no key
behind and may be retried. Outcomes that say nothing final (5xx, 423 kill switch, 429) are not stored either.
Keys are kept ``BILLING_IDEMPOTENCY_TTL_HOURS`` (at least 24 h); the ``idempotency_cleanup`` job deletes older ones.

Views use the decorator::

    class PayoutCreateView(APIView):
        @idempotent()                      # required=True: a POST without the header answers 400
        def post(self, request): ...

Code outside a view calls :func:`idempotency_run` with its own scope and fingerprint.
"""
from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from billing import errors
from billing.models import IdempotencyKey
from core.errors import Conflict, InvalidInput
from core.integrity.canonical import canonical_bytes
from core.integrity.chain import CURRENT_VERSION, hash_version, spell

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
REPLAY_HEADER = "Idempotent-Replayed"
_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")
# Outcomes that do not settle anything: a retry with the same key must be able to run again.
_NOT_STORED = {423, 429}


@dataclass(frozen=True)
class Outcome:
    status: int
    body: Any
    replayed: bool


def validate_key(key: Any) -> str:
    if not isinstance(key, str) or not _KEY.match(key) or not key.strip():
        raise InvalidInput(
            _("Idempotency-Key must be 1 to %(n)d visible ASCII characters.") % {"n": MAX_KEY_LENGTH},
            code=errors.IDEMPOTENCY_KEY_INVALID, fields={HEADER: [_("Invalid key.")]},
        )
    return key


def rendered_json(value: Any) -> Any:
    """The JSON value exactly as the API renders it (what is stored is what is replayed)."""
    return json.loads(json.dumps(value, cls=JSONEncoder, ensure_ascii=False))


def request_fingerprint(method: str, path: str, body: Any, *, version: int = CURRENT_VERSION) -> str:
    """SHA-256 over the method, the path and the body, each preceded by its length (8 bytes, big-endian).

    The body is its RFC 8785 canonical JSON (as the API reads it), or its raw bytes when it is not JSON; the result
    is ``v2:<hex>``. Keys stored before fingerprints carried a version hold the bare hex of format v1, whose body is
    ``json.dumps`` with sorted keys: a retry under such a key is fingerprinted with v1 to compare (``version=1``).
    """
    if isinstance(body, (bytes, bytearray)):
        payload = bytes(body)
    elif version == 1:  # frozen: the v1 body
        payload = json.dumps(body, cls=JSONEncoder, sort_keys=True, separators=(",", ":"),
                             ensure_ascii=False).encode()
    else:
        payload = canonical_bytes(rendered_json(body))
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), payload):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return spell(digest.hexdigest(), version)


@dataclass(frozen=True)
class RequestFingerprint:
    """A request to fingerprint: in the current format for a new key, in a stored key's own format to compare."""

    method: str
    path: str
    body: Any

    def __str__(self) -> str:
        return request_fingerprint(self.method, self.path, self.body)

    def matches(self, stored: str) -> bool:
        return stored == request_fingerprint(self.method, self.path, self.body, version=hash_version(stored))


def _same_request(stored: str, fingerprint: str | RequestFingerprint) -> bool:
    if isinstance(fingerprint, RequestFingerprint):
        return fingerprint.matches(stored)
    return stored == fingerprint


def _storable(status: int, body: Any) -> bool:
    if status >= 500 or status in _NOT_STORED:
        return False
    code = body.get("error", {}).get("code", "") if isinstance(body, dict) else ""
    return not str(code).startswith("idempotency_")


def _expiry(now: datetime) -> datetime:
    return now + timedelta(hours=max(24, settings.BILLING_IDEMPOTENCY_TTL_HOURS))


def _claim(*, scope: str, key: str, fingerprint: str, method: str, path: str) -> tuple[IdempotencyKey, bool]:
    """Insert the key row, or return the existing one once its writer has finished."""
    now = timezone.now()
    for _attempt in range(2):
        try:
            with transaction.atomic():
                if connection.vendor == "postgresql":
                    # Bounds the wait on the unique index behind a concurrent request with the same key. A local
                    # setting (SET LOCAL, here through set_config, which takes its value as a parameter where SET
                    # cannot) is undone with this savepoint, and reset below when the insert succeeds.
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT set_config('lock_timeout', %s, true)",
                                       [f"{int(settings.BILLING_IDEMPOTENCY_WAIT_SECONDS * 1000)}ms"])
                row = IdempotencyKey.objects.create(scope=scope, key=key, request_hash=fingerprint, method=method,
                                                    path=path[:512], created_at=now, expires_at=_expiry(now))
                if connection.vendor == "postgresql":
                    with connection.cursor() as cursor:
                        cursor.execute("SET LOCAL lock_timeout TO DEFAULT")
                return row, True
        except IntegrityError:
            existing = IdempotencyKey.objects.filter(scope=scope, key=key).first()
            if existing is None:  # deleted by the cleanup between our insert and this read: claim again
                continue
            if existing.expires_at <= now:
                IdempotencyKey.objects.filter(pk=existing.pk, expires_at__lte=now).delete()
                continue
            return existing, False
        except OperationalError as exc:
            if _is_lock_timeout(exc):
                raise Conflict(_("A request with this Idempotency-Key is still being processed; retry later."),
                               code=errors.IDEMPOTENCY_IN_PROGRESS) from None
            raise
    raise Conflict(_("A request with this Idempotency-Key is still being processed; retry later."),
                   code=errors.IDEMPOTENCY_IN_PROGRESS)


def _is_lock_timeout(exc: OperationalError) -> bool:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) == "55P03"  # lock_not_available


def idempotency_run(*, scope: str, key: str, fingerprint: str | RequestFingerprint,
                    call: Callable[[], tuple[int, Any]], method: str = "", path: str = "") -> Outcome:
    """Run ``call`` once per ``(scope, key)``; replay its stored ``(status, body)`` afterwards.

    ``call`` runs inside this function's transaction together with the key row; it returns the status and the
    JSON body of its outcome. A different ``fingerprint`` for a used key raises 409 ``idempotency_mismatch``: a
    string is compared as it is, a ``RequestFingerprint`` in the format of the stored key.
    """
    key = validate_key(key)
    with transaction.atomic():
        row, created = _claim(scope=scope, key=key, fingerprint=str(fingerprint), method=method, path=path)
        if not created:
            if not _same_request(row.request_hash, fingerprint):
                raise Conflict(_("This Idempotency-Key was used with a different request."),
                               code=errors.IDEMPOTENCY_MISMATCH)
            if row.status != IdempotencyKey.Status.COMPLETED:
                raise Conflict(_("A request with this Idempotency-Key is still being processed; retry later."),
                               code=errors.IDEMPOTENCY_IN_PROGRESS)
            return Outcome(row.response_status, row.response_body, True)
        status, body = call()
        body = rendered_json(body)
        if _storable(status, body):
            IdempotencyKey.objects.filter(pk=row.pk).update(
                status=IdempotencyKey.Status.COMPLETED, response_status=status, response_body=body,
                completed_at=timezone.now())
        else:
            IdempotencyKey.objects.filter(pk=row.pk).delete()
        return Outcome(status, body, False)


def default_scope(request) -> str:
    """Keys belong to the calling application (or, outside the app API, to the signed-in user)."""
    user = getattr(request, "user", None)
    app_id = getattr(user, "app_id", None)
    if app_id:
        return f"app:{app_id}"
    if getattr(user, "pk", None) is not None and getattr(user, "is_authenticated", False):
        return f"user:{user.pk}"
    raise exceptions.NotAuthenticated()


def idempotent(*, required: bool = True, scope: Callable[[Any], str] = default_scope,
               stored: Callable[[Any], Any] | None = None, replayed: Callable[[Any], Any] | None = None):
    """Decorate a DRF view method (``post``) so that it honours ``Idempotency-Key``.

    The method's own exceptions are rendered by the view's exception handler and stored like any other
    outcome, so a replay of a refused request is refused the same way. ``stored`` transforms a successful body
    before it is kept (to leave out a secret) and ``replayed`` restores it when it is given again.
    """

    def decorate(method: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(method)
        def wrapper(view, request, *args, **kwargs) -> Response:
            raw_key = request.headers.get(HEADER)
            if raw_key is None:
                if required:
                    raise InvalidInput(_("This request moves money: send an Idempotency-Key header."),
                                       code=errors.IDEMPOTENCY_KEY_REQUIRED,
                                       fields={HEADER: [_("This header is required.")]})
                return method(view, request, *args, **kwargs)
            key = validate_key(raw_key)
            fingerprint = RequestFingerprint(request.method, request.get_full_path(), request.data)
            first: dict[str, Response] = {}

            def call() -> tuple[int, Any]:
                try:
                    with transaction.atomic():
                        response = method(view, request, *args, **kwargs)
                except Exception as exc:  # noqa: BLE001 - rendered into the stored outcome, the effect rolled back
                    response = view.handle_exception(exc)
                first["response"] = response
                body = rendered_json(response.data)
                first["body"] = body
                if stored is not None and 200 <= response.status_code < 300:
                    body = stored(body)
                return response.status_code, body

            outcome = idempotency_run(scope=scope(request), key=key, fingerprint=fingerprint, call=call,
                                      method=request.method, path=request.get_full_path())
            if outcome.replayed:
                body = outcome.body
                if replayed is not None and 200 <= outcome.status < 300:
                    body = replayed(body)
                return Response(body, status=outcome.status, headers={REPLAY_HEADER: "true"})
            response = first["response"]
            response.data = first["body"]
            return response

        wrapper.idempotent = True
        return wrapper

    return decorate
