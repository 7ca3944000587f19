"""Where verification codes go: pluggable sender backends chosen by ``OTP_SENDER``.

- ``console``: writes the message to standard output (development).
- ``file``: appends one JSON line per message to ``OTP_FILE_PATH`` (tests and demos), like Django's file-based
  e-mail backend.
- ``http``: a Twilio-style SMS/WhatsApp provider API (``OTP_HTTP_*`` settings), for production.
- or the dotted path of a class with ``send(message)``.

A backend is the only place a code leaves the process in clear: none of them logs it, and errors they raise
never carry it (a job's error text is stored in the database).
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol, TextIO

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

MESSAGE = "Your PROST-QS verification code is {code}. It expires in {minutes} minutes."
# A code an application asked for, to prove the person holds the identity: it names the application, so that a
# person who did not ask it to act for them knows not to give the code away.
APP_MESSAGE = ("{app} asks to act on your PROST-QS account (payments and payouts through {app}). Your code is {code}; "
               "give it only to {app}. It expires in {minutes} minutes.")


class SenderError(Exception):
    """The backend could not hand the message over; the job is retried."""


@dataclass(frozen=True)
class OtpMessage:
    verification_id: str
    phone: str
    channel: str
    expires_at: datetime
    code: str = field(repr=False)
    ttl_seconds: int = 300
    app_name: str = ""  # set when an application asked for the code (proof of an app link)

    @property
    def text(self) -> str:
        minutes = max(1, round(self.ttl_seconds / 60))
        if self.app_name:
            return APP_MESSAGE.format(app=self.app_name[:60], code=self.code, minutes=minutes)
        return MESSAGE.format(code=self.code, minutes=minutes)


class OtpSender(Protocol):
    def send(self, message: OtpMessage) -> None: ...


class ConsoleSender:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def send(self, message: OtpMessage) -> None:
        stream = self.stream or sys.stdout
        stream.write(f"[otp] {message.channel} to {message.phone}: {message.text}\n")
        stream.flush()


class FileSender:
    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path or settings.OTP_FILE_PATH)

    def send(self, message: OtpMessage) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({
            "verification_id": message.verification_id, "to": message.phone, "channel": message.channel,
            "code": message.code, "body": message.text, "expires_at": message.expires_at.isoformat(),
        }) + "\n"
        # One write on an O_APPEND descriptor: concurrent workers never interleave lines. Owner-only permissions.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


class HttpSender:
    """Twilio's Messages API shape: ``POST {base}/2010-04-01/Accounts/{sid}/Messages.json`` with form fields
    ``To``, ``From``, ``Body`` and HTTP Basic ``sid:token``; WhatsApp numbers carry a ``whatsapp:`` prefix."""

    def __init__(self, *, base_url: str | None = None, account_sid: str | None = None, auth_token: str | None = None,
                 sms_from: str | None = None, whatsapp_from: str | None = None, timeout: float | None = None,
                 session: requests.Session | None = None) -> None:
        self.base_url = (base_url or settings.OTP_HTTP_BASE_URL).rstrip("/")
        self.account_sid = account_sid or settings.OTP_HTTP_ACCOUNT_SID
        self.auth_token = auth_token or settings.OTP_HTTP_AUTH_TOKEN
        self.sms_from = sms_from or settings.OTP_HTTP_FROM
        self.whatsapp_from = whatsapp_from or settings.OTP_HTTP_WHATSAPP_FROM or self.sms_from
        self.timeout = timeout or settings.OTP_HTTP_TIMEOUT_SECONDS
        self.session = session or requests.Session()
        if not (self.account_sid and self.auth_token and self.sms_from):
            raise ImproperlyConfigured("OTP_SENDER=http needs OTP_HTTP_ACCOUNT_SID, OTP_HTTP_AUTH_TOKEN and "
                                       "OTP_HTTP_FROM.")

    def send(self, message: OtpMessage) -> None:
        whatsapp = message.channel == "whatsapp"
        data = {
            "To": f"whatsapp:{message.phone}" if whatsapp else message.phone,
            "From": f"whatsapp:{self.whatsapp_from}" if whatsapp else self.sms_from,
            "Body": message.text,
        }
        url = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        try:
            response = self.session.post(url, data=data, auth=(self.account_sid, self.auth_token),
                                         timeout=self.timeout)
        except requests.RequestException as exc:
            raise SenderError(f"SMS provider unreachable: {type(exc).__name__}") from None
        if response.status_code >= 300:
            try:
                detail = response.json().get("code", "")
            except ValueError:
                detail = ""
            raise SenderError(f"SMS provider answered {response.status_code} {detail}".strip())


BACKENDS = {"console": ConsoleSender, "file": FileSender, "http": HttpSender}


def get_sender() -> OtpSender:
    name = settings.OTP_SENDER
    cls = BACKENDS.get(name) or import_string(name)
    return cls()
