"""Stripe webhooks: a signature counts only within ``STRIPE_WEBHOOK_TOLERANCE`` seconds of now, before or after, and
a signed body holding text that cannot be stored is refused like any other body the API cannot read.

The attack: whoever holds the signing secret for a moment (a leaked log, a skewed signer) stamps events a day
ahead, and they stay replayable for that whole day. Refused: 400 ``invalid_signature``, nothing written.
"""
from __future__ import annotations

import json
import time

import pytest

from audit.models import StagedEvent
from tests.billing.helpers import event, sign
from tests.billing.test_webhooks import nothing_written, stripe_intent, succeeded

pytestmark = [pytest.mark.django_db]


@pytest.mark.parametrize("ahead", [86_400, 301, 3_600 * 24 * 365])
def test_a_signature_stamped_in_the_future_is_refused_and_writes_nothing(make_account, post_webhook, ahead):
    intent = stripe_intent(make_account())
    staged = StagedEvent.objects.count()
    response = post_webhook(succeeded(intent), timestamp=int(time.time()) + ahead)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_signature"
    assert nothing_written() and StagedEvent.objects.count() == staged
    intent.refresh_from_db()
    assert intent.status != "confirmed"


def test_a_signature_a_little_ahead_of_our_clock_is_accepted(make_account, post_webhook):
    intent = stripe_intent(make_account())
    assert post_webhook(succeeded(intent), timestamp=int(time.time()) + 290).status_code == 200


def test_the_window_follows_the_setting_both_ways(make_account, post_webhook, settings):
    settings.STRIPE_WEBHOOK_TOLERANCE = 60
    intent = stripe_intent(make_account())
    for skew in (61, -61):
        response = post_webhook(succeeded(intent), timestamp=int(time.time()) + skew)
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_signature", skew
    assert nothing_written()
    assert post_webhook(succeeded(intent), timestamp=int(time.time()) + 50).status_code == 200


def test_a_signature_whose_first_timestamp_is_in_the_future_is_refused(make_account, post_webhook):
    """The stripe package reads the first ``t=``; so does the future check (a second ``t`` changes nothing)."""
    intent = stripe_intent(make_account())
    body = json.dumps(succeeded(intent))
    ahead = int(time.time()) + 86_400
    header = sign(body, timestamp=ahead) + f",t={int(time.time())}"
    response = post_webhook(body, signature=header)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_signature"
    assert nothing_written()


@pytest.mark.parametrize("text", ["\\udfff", "\\ud800 then text", "nul \\u0000 inside"])
def test_a_signed_event_holding_text_that_cannot_be_stored_is_400(make_account, post_webhook, text):
    intent = stripe_intent(make_account())
    body = json.dumps(event("payment_intent.succeeded", {
        "id": intent.stripe_intent_id, "object": "payment_intent", "amount": intent.amount,
        "amount_received": intent.amount, "status": "succeeded", "description": "PLACEHOLDER"}))
    body = body.replace("PLACEHOLDER", text)  # the JSON escape itself, as an encoder writes it
    response = post_webhook(body)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_event"
    assert nothing_written()
