"""Outgoing webhooks: events other areas tell an application about, POSTed to its ``webhook_url`` by the jobs queue.

Other areas call :func:`app_webhook_enqueue` inside their own transaction: the event exists (as a ``webhook`` job)
exactly when the change it reports committed. A worker then POSTs it, signed with the application's signing secret
(kept in ``secrets``, AES-256-GCM; docs/domains/identity.md, "Outgoing webhooks", documents how receivers verify):

    POST <webhook_url>
    Content-Type: application/json
    ProstQS-Event-Id: evt_…
    ProstQS-Event-Type: payout.sent
    ProstQS-Timestamp: 1767225600
    ProstQS-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>[,v1=<with the previous secret>]

    {"id": "evt_…", "type": "payout.sent", "created_at": "…", "data": {…}}

The body is fixed when the event is queued (every attempt sends the same bytes); the timestamp and signature are
made per attempt. A 2xx answer delivers the event; anything else (an error status, a timeout, a redirect to another
origin) fails the attempt and the job is retried with the queue's backoff, then dead-lettered after
``APP_WEBHOOK_MAX_ATTEMPTS``. A URL production refuses (not ``https``, or resolving to a private, loopback or
link-local address) fails for good at once. Secret values never reach a log line, an audit record, a job payload or
an error message.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets as token_source
import socket
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from core.errors import Conflict, InvalidInput, NotFound
from identity import events
from identity.models import Application
from infrastructure.models import Job, Secret
from infrastructure.services.jobs import PermanentJobFailure, job_enqueue
from infrastructure.services.secrets import secret_get_recent, secret_put

logger = logging.getLogger("prostqs.webhooks")

WEBHOOK_JOB = "webhook"
SECRET_NAME = "app.webhook_signing_secret"  # noqa: S105 - the name the secret is stored under, not a secret
SECRET_PREFIX = "whsec_"  # noqa: S105 - a public marker that prefixes signing secrets, not a secret
SIGNATURE_SCHEME = "v1"
MAX_REDIRECTS = 3
USER_AGENT = "PROST-QS-Webhooks/1"
_TYPE_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._")


class WebhookDeliveryFailed(Exception):
    """One attempt did not deliver the event; the job is retried. The message never holds a secret or the body."""


# --- the signing secret -------------------------------------------------------------------------------------------


def webhook_secret_generate() -> str:
    """A new signing secret: ``whsec_`` and 256 random bits."""
    return SECRET_PREFIX + token_source.token_urlsafe(32)


@transaction.atomic
def app_webhook_secret_rotate(*, app: Application, value: str | None = None) -> str:
    """Store a new signing secret for ``app`` (``value``, or a fresh one) and return it: the only time it is shown.

    Webhooks are signed with it from now on, and also with the previous one for
    ``APP_WEBHOOK_SECRET_GRACE_SECONDS``, so receivers can switch without refusing deliveries meanwhile.
    """
    app = Application.objects.select_for_update().get(pk=app.pk)  # the current status, not the caller's copy
    if app.status == Application.Status.DELETED:
        raise Conflict(_("A deleted application sends no webhooks."), code="app_deleted")
    value = value or webhook_secret_generate()
    if not value.startswith(SECRET_PREFIX) or len(value) < len(SECRET_PREFIX) + 32:
        raise InvalidInput(_("A webhook signing secret is whsec_ followed by at least 32 characters."),
                           code="invalid_webhook_secret")
    secret_put(SECRET_NAME, value, app_id=app.pk, type=Secret.Type.ENCRYPTION_KEY)
    return value


def _signing_secrets(app: Application) -> list[str]:
    grace = timedelta(seconds=max(settings.APP_WEBHOOK_SECRET_GRACE_SECONDS, 0))
    try:
        return secret_get_recent(SECRET_NAME, app_id=app.pk, rotated_within=grace)
    except NotFound:
        # Apps made before signing secrets existed, or whose secret was revoked: sign with a new one, which the
        # owner gets by rotating (an unsigned webhook is never sent).
        app_webhook_secret_rotate(app=app)
        return secret_get_recent(SECRET_NAME, app_id=app.pk, rotated_within=grace)


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``<timestamp>.<body>`` under ``secret`` (its UTF-8 bytes)."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def webhook_signature_header(*, secrets: list[str], timestamp: int, body: bytes) -> str:
    return ",".join(f"{SIGNATURE_SCHEME}={webhook_signature(secret=s, timestamp=timestamp, body=body)}"
                    for s in secrets)


# --- URLs ---------------------------------------------------------------------------------------------------------


def webhook_url_problem(url: str) -> str | None:
    """Why ``url`` is not an acceptable webhook URL here (by its form alone), or None."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return _("A webhook URL is an absolute https:// URL.")
    if parts.scheme == "http" and not settings.APP_WEBHOOK_ALLOW_HTTP:
        return _("Webhook URLs must use https://.")
    if parts.username or parts.password:
        return _("A webhook URL carries no user name or password.")
    return None


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80)


def _refuse_private_addresses(host: str, port: int) -> None:
    """Refuse hosts that resolve inside our own network (SSRF); the check runs before every request.

    (A name can resolve differently a moment later; an egress proxy that enforces the same rule closes that gap.)
    """
    if settings.APP_WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookDeliveryFailed(f"cannot resolve {host}: {exc}") from None
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not ip.is_global:
            raise PermanentJobFailure(f"webhook host {host} resolves to a non-public address ({ip})")


# --- enqueue ------------------------------------------------------------------------------------------------------


def _clean_type(type: Any) -> str:
    if not isinstance(type, str) or not 0 < len(type) <= 64 or not set(type) <= _TYPE_CHARS:
        raise InvalidInput(_("A webhook event type is a lowercase dotted name such as payout.sent."),
                           code="invalid_webhook_type")
    return type


def app_webhook_enqueue(*, app_id: Any, type: str, data: dict[str, Any]) -> Job | None:
    """Queue event ``type`` with ``data`` for application ``app_id`` (inside the caller's transaction).

    Returns the ``webhook`` job, or None when there is nobody to tell: no application, a deleted one, or one
    without a ``webhook_url``. ``data`` is a JSON object (ids, amounts, statuses); never put secrets in it.
    """
    type = _clean_type(type)
    if not isinstance(data, dict):
        raise InvalidInput(_("Webhook data is a JSON object."), code="invalid_webhook_data")
    if not app_id:
        return None
    try:
        app = Application.objects.filter(pk=app_id).only("id", "status", "webhook_url").first()
    except (ValidationError, ValueError, TypeError):
        raise InvalidInput(_("app_id must be a UUID."), code="invalid_app_id") from None
    if app is None or app.status == Application.Status.DELETED or not app.webhook_url:
        return None
    event = {"id": f"evt_{uuid.uuid4().hex}", "type": type, "created_at": timezone.now().isoformat(),
             "data": json.loads(json.dumps(data, cls=DjangoJSONEncoder))}
    return job_enqueue(WEBHOOK_JOB, payload={"app_id": str(app.pk), "event": event},
                       max_attempts=settings.APP_WEBHOOK_MAX_ATTEMPTS)


# --- delivery (the ``webhook`` job) -------------------------------------------------------------------------------


def webhook_body(event: dict[str, Any]) -> bytes:
    """The bytes sent: compact JSON, the same for every attempt (receivers verify the raw body as received)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


def _post(url: str, *, body: bytes, headers: dict[str, str]) -> requests.Response:
    """POST, following redirects only within the same origin (scheme, host and port), re-sending the body."""
    origin = _origin(url)
    timeout = settings.APP_WEBHOOK_TIMEOUT_SECONDS
    for _hop in range(MAX_REDIRECTS + 1):
        _scheme, host, port = _origin(url)
        _refuse_private_addresses(host, port)
        try:
            response = requests.post(url, data=body, headers=headers, timeout=(timeout, timeout),
                                     allow_redirects=False, stream=True)
        except requests.RequestException as exc:
            raise WebhookDeliveryFailed(f"{host} unreachable: {type(exc).__name__}") from None
        response.close()  # the answer's body is never read: only its status matters
        if not response.is_redirect:
            return response
        target = urljoin(url, response.headers.get("Location", ""))
        if _origin(target) != origin:
            raise WebhookDeliveryFailed(
                f"{host} redirected to another origin ({_origin(target)[1] or 'nowhere'}); not followed")
        url = target
    raise WebhookDeliveryFailed(f"{origin[1]} redirected more than {MAX_REDIRECTS} times")


def webhook_deliver(*, job: Job) -> str:
    """Send one queued event (the ``webhook`` job handler). Returns what happened; raises to be retried."""
    app_id, event = job.payload.get("app_id"), job.payload.get("event")
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise PermanentJobFailure("a webhook job needs an app_id and an event")
    app = Application.objects.filter(pk=app_id).first()
    if app is None or app.status == Application.Status.DELETED or not app.webhook_url:
        logger.info("webhook %s (%s) for app %s dropped: no application or webhook URL any more",
                    event["id"], event.get("type"), app_id)
        return "dropped"
    if app.status != Application.Status.ACTIVE:
        raise WebhookDeliveryFailed(f"application {app.pk} is {app.status}")
    problem = webhook_url_problem(app.webhook_url)
    if problem:
        raise PermanentJobFailure(f"webhook URL of application {app.pk} refused: {problem}")
    body = webhook_body(event)
    timestamp = int(timezone.now().timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "ProstQS-Event-Id": event["id"],
        "ProstQS-Event-Type": str(event.get("type", "")),
        "ProstQS-Timestamp": str(timestamp),
        "ProstQS-Signature": webhook_signature_header(secrets=_signing_secrets(app), timestamp=timestamp, body=body),
        "ProstQS-Delivery-Attempt": str(job.attempts),
    }
    response = _post(app.webhook_url, body=body, headers=headers)
    host = _origin(app.webhook_url)[1]
    if not 200 <= response.status_code < 300:
        raise WebhookDeliveryFailed(f"{host} answered {response.status_code} to event {event['id']}")
    with transaction.atomic():
        audit_record(events.APP_WEBHOOK_DELIVERED, action="deliver", target_type="application", target_id=app.pk,
                     app_id=app.pk, actor_type="system",
                     metadata={"event_id": event["id"], "type": event.get("type"), "host": host,
                               "status_code": response.status_code, "attempt": job.attempts})
    logger.info("webhook %s (%s) delivered to %s: %s (attempt %s)", event["id"], event.get("type"), host,
                response.status_code, job.attempts)
    return "delivered"
