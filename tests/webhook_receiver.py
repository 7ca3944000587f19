"""A real HTTP server on a local port that receives applications' webhooks, and the receiver's side of the signing
scheme exactly as docs/domains/identity.md ("Outgoing webhooks") documents it (written from the documentation, not from
our code)."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from requests.structures import CaseInsensitiveDict

TOLERANCE_SECONDS = 300


@dataclass
class Received:
    path: str
    headers: CaseInsensitiveDict
    body: bytes

    @property
    def event(self) -> dict:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class WebhookReceiver:
    """Records every POST; answers from a queue of ``Answer`` (then 200).

        receiver.answer(Answer(500), Answer(500))   # the next two deliveries fail
        receiver.url("/hooks")                      # http://127.0.0.1:<port>/hooks
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.received: list[Received] = []
        self._answers: list[Answer] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.received.append(Received(self.path, CaseInsensitiveDict(self.headers.items()), body))
                    answer = receiver._answers.pop(0) if receiver._answers else Answer()
                if answer.delay:
                    time.sleep(answer.delay)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format, *args) -> None:  # quiet
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                pass  # a client that gave up (timeout tests) is expected

        self.server = Server((host, 0), Handler)
        self.host = host
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hooks", host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def answer(self, *answers: Answer) -> None:
        with self._lock:
            self._answers.extend(answers)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def signatures(headers) -> list[str]:
    """The ``v1`` signatures of a ``ProstQS-Signature`` header."""
    return [part.split("=", 1)[1] for part in headers["ProstQS-Signature"].split(",") if part.startswith("v1=")]


def verify(secret: str, received: Received, *, now: float | None = None) -> bool:
    """The receiver's check: HMAC-SHA256 over ``<ProstQS-Timestamp>.<raw body>`` with the signing secret matches
    one of the ``v1`` signatures (constant-time), and the timestamp is at most 5 minutes away."""
    timestamp = int(received.headers["ProstQS-Timestamp"])
    if abs((now or time.time()) - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + received.body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures(received.headers))
