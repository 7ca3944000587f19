"""No secret reaches a log line: every logger at DEBUG (SQL included) through sign-in, credentials, webhook
secrets and a card payment, then a search of everything logged for each secret value seen on the way."""
from __future__ import annotations

import json
import logging

import pytest
from django.db import connection

from audit.models import AuditEvent
from audit.services import audit_sequence
from tests.billing.helpers import card, event
from tests.clients import APIClient

pytestmark = [pytest.mark.django_db]

CARD = "4242424242424242"


class Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{record.name} {text} {record.args!r}")


@pytest.fixture
def captured():
    handler, root = Everything(), logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    quiet = logging.getLogger("django.db.backends")
    quiet_level = quiet.level
    quiet.setLevel(logging.DEBUG)
    connection.force_debug_cursor = True          # every SQL statement and its parameters are logged too
    try:
        yield handler
    finally:
        connection.force_debug_cursor = False
        root.removeHandler(handler)
        root.setLevel(previous)
        quiet.setLevel(quiet_level)


def test_no_secret_in_the_logs(captured, otp_outbox, run_jobs, stripe_on, stripe_api, localstripe_webhook,
                               settings, prove):
    payment_method = card(stripe_api, CARD)  # the customer's side, before anything of ours is captured
    captured.lines.clear()
    secrets: dict[str, str] = {}
    anonymous = APIClient()

    started = anonymous.post("/api/v1/identity/otp/start", {"phone": "+5511987650001", "channel": "sms"},
                             format="json")
    assert started.status_code == 201, started.content
    run_jobs()
    verification_id = started.json()["verification_id"]
    secrets["otp code"] = otp_outbox.code_for(verification_id)
    wrong = anonymous.post("/api/v1/identity/otp/verify", {"verification_id": verification_id,
                                                           "code": "000000" if secrets["otp code"] != "000000"
                                                           else "111111"}, format="json")
    assert wrong.status_code == 400
    verified = anonymous.post("/api/v1/identity/otp/verify", {"verification_id": verification_id,
                                                              "code": secrets["otp code"]}, format="json")
    assert verified.status_code == 200, verified.content
    secrets["session token"] = verified.json()["session_token"]

    user = APIClient()
    user.credentials(HTTP_AUTHORIZATION=f"Bearer {secrets['session token']}")
    app = user.post("/api/v1/apps", {"name": "Logged app"}, format="json").json()
    secrets["webhook secret"] = app["webhook_secret"]
    secrets["rotated webhook secret"] = user.post(f"/api/v1/apps/{app['id']}/webhook-secret").json()["webhook_secret"]
    credential = user.post(f"/api/v1/apps/{app['id']}/credentials", {"name": "server", "scopes": ["billing",
                                                                                                 "identity"]},
                           format="json").json()
    secrets["app secret"] = credential["secret"]
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Basic " + __import__("base64").b64encode(
        f"{credential['public_key']}:{secrets['app secret']}x".encode()).decode())
    assert bad.get("/api/v1/billing/subscriptions").status_code == 401

    import base64

    server = APIClient()
    server.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(
        f"{credential['public_key']}:{secrets['app secret']}".encode()).decode())
    assert server.post("/api/v1/app/users", {"external_user_id": "payer", "phone": "+5511987650002"},
                       format="json").status_code == 201
    proof_id = prove.start(server, "payer")
    secrets["proof code"] = prove.code_for(proof_id)
    assert server.post(f"/api/v1/app/users/payer/verifications/{proof_id}/confirm", {"code": secrets["proof code"]},
                       format="json").status_code == 200
    account = server.post("/api/v1/billing/accounts", {"external_user_id": "payer"}, format="json").json()
    intent = server.post("/api/v1/billing/payment-intents", {"account_id": account["id"], "amount": 2500},
                         format="json", HTTP_IDEMPOTENCY_KEY="order-1").json()
    secrets["stripe client secret"] = intent["client_secret"]
    stripe_api.v1.payment_intents.update(intent["provider_intent_id"], params={"payment_method": payment_method})
    stripe_api.v1.payment_intents.confirm(intent["provider_intent_id"])
    # Stripe's event, as its webhook would deliver it (the card itself never reaches us: only its last digits).
    remote = stripe_api.v1.payment_intents.retrieve(intent["provider_intent_id"])
    body = json.dumps(event("payment_intent.succeeded", remote.to_dict()))
    from tests.billing.helpers import sign

    response = APIClient().post("/api/v1/billing/webhooks/stripe", data=body, content_type="application/json",
                                HTTP_STRIPE_SIGNATURE=sign(body))
    assert response.status_code == 200, response.content
    subscription = server.post("/api/v1/billing/subscriptions", {
        "account_id": account["id"], "plan_id": "pro", "amount": 990, "interval": "month",
        "payment_method": payment_method}, format="json", HTTP_IDEMPOTENCY_KEY="sub-1")
    assert subscription.status_code == 201, subscription.content
    run_jobs(allow_failures=True)
    audit_sequence()

    assert len(captured.lines) > 50, "the capture saw too little to prove anything"
    logged = "\n".join(captured.lines)
    assert CARD not in logged
    for name, value in secrets.items():
        assert value and value not in logged, f"the {name} appears in the logs"
    audited = json.dumps(list(AuditEvent.objects.values("before", "after", "metadata", "reason")))
    for name, value in {**secrets, "card": CARD}.items():
        assert value not in audited, f"the {name} appears in the audit log"
    print(f"log capture: {len(captured.lines)} log records at DEBUG searched for {len(secrets) + 1} secrets")
