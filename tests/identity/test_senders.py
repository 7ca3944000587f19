"""Sender backends. The HTTP one talks to a local fake of the provider's Messages API through the real
``requests`` client."""
from __future__ import annotations

import base64
import io
import json
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from identity.senders import ConsoleSender, FileSender, HttpSender, OtpMessage, SenderError, get_sender

pytestmark = pytest.mark.smoke

MESSAGE = OtpMessage(verification_id="v-1", phone="+5511987654321", channel="sms", code="042917",
                     expires_at=datetime(2030, 1, 1, tzinfo=UTC), ttl_seconds=300)


class FakeProvider:
    """Twilio's ``POST /2010-04-01/Accounts/{sid}/Messages.json``: Basic auth, form body, 201 JSON answer."""

    def __init__(self, *, status: int = 201, delay: float = 0) -> None:
        self.status = status
        self.delay = delay
        self.requests: list[dict] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                time.sleep(provider.delay)
                provider.requests.append({"path": self.path, "auth": self.headers.get("Authorization", ""),
                                          "type": self.headers.get("Content-Type", ""), "form": parse_qs(body)})
                authorised = self.headers.get("Authorization") == "Basic " + base64.b64encode(b"AC123:tok").decode()
                status = provider.status if authorised else 401
                answer = ({"sid": "SM1", "status": "queued"} if status < 300
                          else {"code": 20003 if status == 401 else 21211, "message": "refused"})
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def sender(url: str, token: str = "tok") -> HttpSender:
    return HttpSender(base_url=url, account_sid="AC123", auth_token=token, sms_from="+15005550006",
                      whatsapp_from="+14155238886", timeout=5)


def test_http_sender_posts_the_message_to_the_provider():
    with FakeProvider() as provider:
        sender(provider.url).send(MESSAGE)
    [request] = provider.requests
    assert request["path"] == "/2010-04-01/Accounts/AC123/Messages.json"
    assert request["type"] == "application/x-www-form-urlencoded"
    assert request["form"]["To"] == ["+5511987654321"] and request["form"]["From"] == ["+15005550006"]
    assert "042917" in request["form"]["Body"][0]


def test_http_sender_uses_whatsapp_addresses_for_whatsapp():
    with FakeProvider() as provider:
        sender(provider.url).send(OtpMessage(**{**MESSAGE.__dict__, "channel": "whatsapp"}))
    form = provider.requests[0]["form"]
    assert form["To"] == ["whatsapp:+5511987654321"] and form["From"] == ["whatsapp:+14155238886"]


@pytest.mark.parametrize(("status", "token"), [(400, "tok"), (201, "wrong"), (500, "tok")])
def test_http_sender_refusals_raise_without_the_code(status, token):
    with FakeProvider(status=status) as provider, pytest.raises(SenderError) as refused:
        sender(provider.url, token).send(MESSAGE)
    assert "042917" not in str(refused.value)


def test_http_sender_unreachable_provider_raises():
    with pytest.raises(SenderError):
        sender("http://127.0.0.1:9").send(MESSAGE)


def test_http_sender_gives_up_on_a_provider_slower_than_its_timeout():
    with FakeProvider(delay=3) as provider:
        started = time.monotonic()
        with pytest.raises(SenderError, match="unreachable: ReadTimeout"):
            HttpSender(base_url=provider.url, account_sid="AC123", auth_token="tok", sms_from="+15005550006",
                       timeout=0.3).send(MESSAGE)
        assert time.monotonic() - started < 2.5


def test_http_sender_needs_its_settings(settings):
    settings.OTP_HTTP_ACCOUNT_SID = ""
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        HttpSender()


def _deploy_check_ids() -> list[str]:
    from django.core import checks

    return [message.id for message in checks.run_checks(include_deployment_checks=True)
            if message.id and message.id.startswith("identity.")]


def test_the_deploy_checks_refuse_a_sender_that_cannot_send(settings):
    settings.OTP_SENDER = "http"
    settings.OTP_HTTP_ACCOUNT_SID, settings.OTP_HTTP_AUTH_TOKEN, settings.OTP_HTTP_FROM = "", "", ""
    assert _deploy_check_ids() == ["identity.E001"]
    settings.OTP_SENDER = "no.such.Sender"
    assert _deploy_check_ids() == ["identity.E001"]
    settings.OTP_SENDER = "http"
    settings.OTP_HTTP_ACCOUNT_SID, settings.OTP_HTTP_AUTH_TOKEN, settings.OTP_HTTP_FROM = "AC1", "tok", "+15005550006"
    assert _deploy_check_ids() == []


@pytest.mark.parametrize("name", ["console", "file", "identity.senders.ConsoleSender", "identity.senders.FileSender"])
def test_the_deploy_checks_warn_of_a_sender_that_writes_codes_in_clear(settings, name, tmp_path):
    settings.OTP_SENDER, settings.OTP_FILE_PATH = name, tmp_path / "codes.jsonl"
    assert _deploy_check_ids() == ["identity.W001"]


def test_file_sender_appends_json_lines(tmp_path):
    path = tmp_path / "out" / "otp.jsonl"
    FileSender(path).send(MESSAGE)
    FileSender(path).send(MESSAGE)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 2 and lines[0]["code"] == "042917" and lines[0]["to"] == "+5511987654321"
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_console_sender_writes_to_its_stream():
    stream = io.StringIO()
    ConsoleSender(stream).send(MESSAGE)
    assert "042917" in stream.getvalue() and "+5511987654321" in stream.getvalue()


def test_the_code_stays_out_of_reprs_and_logs(caplog):
    assert "042917" not in repr(MESSAGE)
    ConsoleSender(io.StringIO()).send(MESSAGE)
    assert "042917" not in caplog.text


def test_get_sender_follows_the_setting(settings, tmp_path):
    settings.OTP_SENDER = "file"
    assert isinstance(get_sender(), FileSender)
    settings.OTP_SENDER = "console"
    assert isinstance(get_sender(), ConsoleSender)
    settings.OTP_SENDER = "identity.senders.FileSender"
    assert isinstance(get_sender(), FileSender)


@pytest.mark.django_db
def test_the_otp_job_sends_through_the_http_provider(settings, api_client, run_jobs):
    with FakeProvider() as provider:
        settings.OTP_SENDER = "http"
        settings.OTP_HTTP_BASE_URL = provider.url
        settings.OTP_HTTP_ACCOUNT_SID, settings.OTP_HTTP_AUTH_TOKEN = "AC123", "tok"
        settings.OTP_HTTP_FROM = "+15005550006"
        started = api_client.post("/api/v1/identity/otp/start", {"phone": "+5511987654321"})
        assert provider.requests == []
        run_jobs()
    assert len(provider.requests) == 1
    from identity.models import PendingVerification
    from infrastructure.models import Job

    assert PendingVerification.objects.get(pk=started.json()["verification_id"]).delivery_status == "sent"
    # The code travelled sealed in the job; once sent, the job keeps only what names the verification.
    assert Job.objects.get(type="otp_send").payload == {"verification_id": started.json()["verification_id"]}


@pytest.mark.django_db
def test_a_sender_without_its_settings_dead_letters_at_once(settings, api_client, run_jobs):
    from infrastructure.models import DeadLetterJob

    settings.OTP_SENDER = "http"
    settings.OTP_HTTP_ACCOUNT_SID = ""
    api_client.post("/api/v1/identity/otp/start", {"phone": "+5511987654321"})
    run_jobs(allow_failures=True)
    dead = DeadLetterJob.objects.get(type="otp_send")
    assert dead.attempts == 1 and "OTP_HTTP_ACCOUNT_SID" in dead.last_error and "sealed_code" not in dead.payload


@pytest.mark.django_db
def test_a_code_that_cannot_be_sent_is_not_kept_in_the_dead_letter(settings, api_client, run_jobs):
    from identity.models import PendingVerification
    from infrastructure.models import DeadLetterJob, Job

    settings.JOBS_RETRY_BASE_SECONDS = 0
    with FakeProvider(status=500) as provider:
        settings.OTP_SENDER = "http"
        settings.OTP_HTTP_BASE_URL = provider.url
        settings.OTP_HTTP_ACCOUNT_SID, settings.OTP_HTTP_AUTH_TOKEN = "AC123", "tok"
        settings.OTP_HTTP_FROM = "+15005550006"
        verification_id = api_client.post("/api/v1/identity/otp/start", {"phone": "+5511987654321"}
                                          ).json()["verification_id"]
        while Job.objects.filter(type="otp_send", status__in=["pending", "processing"]).exists():
            run_jobs(allow_failures=True)
    assert len(provider.requests) == 3  # every attempt had the code
    dead = DeadLetterJob.objects.get(type="otp_send")
    assert dead.payload == {"verification_id": verification_id} == Job.objects.get(type="otp_send").payload
    # Requeued, it cannot send a code it no longer has: the verification is marked skipped (ask for a new code).
    from infrastructure.services.jobs import dead_letter_requeue

    dead_letter_requeue(dead)
    run_jobs()
    assert PendingVerification.objects.get(pk=verification_id).delivery_status == "skipped"


@pytest.mark.django_db
def test_a_provider_failure_leaves_the_job_to_be_retried(settings, api_client):
    from infrastructure.models import Job
    from infrastructure.services.jobs import job_type

    with FakeProvider(status=500) as provider:
        settings.OTP_SENDER = "http"
        settings.OTP_HTTP_BASE_URL = provider.url
        settings.OTP_HTTP_ACCOUNT_SID, settings.OTP_HTTP_AUTH_TOKEN = "AC123", "tok"
        settings.OTP_HTTP_FROM = "+15005550006"
        api_client.post("/api/v1/identity/otp/start", {"phone": "+5511987654321"})
        job = Job.objects.get()
        with pytest.raises(SenderError):
            job_type(job.type).handler(job)
    from identity.models import PendingVerification

    assert PendingVerification.objects.get().delivery_status == "queued"
