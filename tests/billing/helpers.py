"""Helpers for billing tests: Stripe-signed webhooks, events, threads with their own connections."""
from __future__ import annotations

import itertools
import socket
import subprocess
import threading
import time

import stripe
from django.db import connections

_counter = itertools.count(1)

WEBHOOK_SECRET = "whsec_test_" + "s3cr3t" * 4



def sign(payload: str, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header made with Stripe's own signing scheme."""
    return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp)


def event(event_type: str, obj: dict, *, event_id: str | None = None, created: int | None = None) -> dict:
    return {"id": event_id or f"evt_{next(_counter)}_{time.monotonic_ns()}", "object": "event", "type": event_type,
            "created": created or int(time.time()), "api_version": "2025-01-27", "livemode": False,
            "data": {"object": obj}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def card(stripe_api, number: str = "4242424242424242") -> str:
    return stripe_api.v1.payment_methods.create(params={
        "type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}}).id


def in_threads(count: int, target, *args) -> list:
    """Run ``target(i, *args)`` in ``count`` threads with their own database connections; return results."""
    results: list = [None] * count
    errors: list = []
    barrier = threading.Barrier(count)

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[i] = target(i, *args)
        except BaseException as exc:  # noqa: BLE001 - collected here, re-raised in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    if errors:
        raise errors[0]
    return results



class RecordingProxy:
    """An HTTP proxy in front of a server that records each request's method, path and headers.

    The Stripe client talks to it exactly as to Stripe; the test reads what crossed the wire.
    """

    def __init__(self, upstream: str):
        import http.server

        import requests

        self.upstream = upstream
        self.requests: list[dict] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                proxy.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                       "body": body})
                upstream = requests.request(self.command, proxy.upstream + self.path, data=body, timeout=30,
                                            headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
                self.send_response(upstream.status_code)
                for name in ("Content-Type",):
                    if name in upstream.headers:
                        self.send_header(name, upstream.headers[name])
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                self.wfile.write(upstream.content)

            do_GET = do_POST = do_DELETE = _forward

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def confirmed_payment(*, account, app, amount: int):
    """A payment of ``amount`` cents through ``app`` (the local provider), confirmed as the console's "Mark local
    intent succeeded" does it: the ledger's credit is a payment credit of the app's tenant. Returns the intent."""
    from billing.models import PaymentIntent
    from billing.services.payments import payment_intent_create
    from billing.services.webhooks import payment_intent_local_succeed

    intent, _secret = payment_intent_create(account_id=account.pk, amount=amount, currency=account.currency,
                                            app_id=app.pk, idempotency_key=f"payment-{next(_counter)}")
    payment_intent_local_succeed(intent=intent)
    return PaymentIntent.objects.get(pk=intent.pk)
