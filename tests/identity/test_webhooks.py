"""Outgoing webhooks: a real local HTTP server receives them and verifies the signature with the documented scheme;
failures are retried, then dead-lettered; production refuses plain HTTP and private addresses; secret values never
leave the secrets table."""
from __future__ import annotations

import json
import logging

import pytest
from django.db import transaction

from audit.models import AuditEvent
from core.errors import Conflict, InvalidInput
from identity.models import Application, User
from identity.services.apps import app_create, app_set_status
from identity.services.sessions import session_open
from identity.services.webhooks import (
    SECRET_NAME,
    WEBHOOK_JOB,
    app_webhook_enqueue,
    app_webhook_secret_rotate,
    webhook_secret_generate,
)
from infrastructure.models import DeadLetterJob, Job, Secret
from tests.clients import APIClient, Client
from tests.webhook_receiver import Answer, signatures, verify

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


@pytest.fixture
def owner(make_user):
    user = make_user()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {session_open(user=user).token}")
    return client, user


@pytest.fixture
def hooked_app(owner, webhook_receiver):
    """An app created over the owners' API with the receiver's URL; returns (app, its signing secret)."""
    client, _user = owner
    created = client.post("/api/v1/apps", {"name": "Hooked shop", "webhook_url": webhook_receiver.url()})
    assert created.status_code == 201, created.content
    body = created.json()
    return Application.objects.get(pk=body["id"]), body["webhook_secret"]


def enqueue(app, type="payout.sent", data=None):
    with transaction.atomic():
        return app_webhook_enqueue(app_id=app.pk, type=type, data=data or {"payout_id": "po_1", "amount": 1234})


def test_a_webhook_is_delivered_signed_and_verifies_with_the_documented_scheme(hooked_app, webhook_receiver,
                                                                               run_jobs, audit_log):
    app, secret = hooked_app
    assert secret.startswith("whsec_")
    job = enqueue(app, data={"payout_id": "po_1", "amount": 1234, "note": "não"})
    assert run_jobs(WEBHOOK_JOB) == 1
    (received,) = webhook_receiver.received
    assert received.path == "/hooks" and received.headers["Content-Type"] == "application/json"
    assert verify(secret, received)
    assert not verify(webhook_secret_generate(), received)  # another secret does not verify
    assert not verify(secret, received, now=int(received.headers["ProstQS-Timestamp"]) + 301)  # too old
    event = received.event
    assert set(event) == {"id", "type", "created_at", "data"}
    assert event == job.payload["event"] and event["data"] == {"payout_id": "po_1", "amount": 1234, "note": "não"}
    assert received.headers["ProstQS-Event-Id"] == event["id"] and event["id"].startswith("evt_")
    assert received.headers["ProstQS-Event-Type"] == "payout.sent"
    assert received.headers["ProstQS-Delivery-Attempt"] == "1"
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("done", 1)
    delivered = audit_log.assert_recorded("APP_WEBHOOK_DELIVERED", target_id=app.pk)
    assert delivered.metadata == {"event_id": event["id"], "type": "payout.sent", "host": "127.0.0.1",
                                  "status_code": 200, "attempt": 1}


def test_a_tampered_body_does_not_verify(hooked_app, webhook_receiver, run_jobs):
    app, secret = hooked_app
    enqueue(app)
    run_jobs(WEBHOOK_JOB)
    (received,) = webhook_receiver.received
    received.body = received.body.replace(b"1234", b"9234")
    assert not verify(secret, received)


def test_failures_are_retried_with_the_same_body_then_dead_lettered(hooked_app, webhook_receiver, run_jobs,
                                                                    settings):
    settings.JOBS_RETRY_BASE_SECONDS = 0  # every retry is due at once
    settings.APP_WEBHOOK_MAX_ATTEMPTS = 3
    app, secret = hooked_app
    webhook_receiver.answer(Answer(500), Answer(503), Answer(404))
    job = enqueue(app)
    assert run_jobs(WEBHOOK_JOB, allow_failures=True) == 3
    assert [outcome for _job, outcome in run_jobs.outcomes] == ["retry", "retry", "dead"]
    assert len(webhook_receiver.received) == 3
    assert len({r.body for r in webhook_receiver.received}) == 1  # one event, the same bytes every time
    assert all(verify(secret, r) for r in webhook_receiver.received)
    assert [r.headers["ProstQS-Delivery-Attempt"] for r in webhook_receiver.received] == ["1", "2", "3"]
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("failed", 3)
    dead = DeadLetterJob.objects.get(original_job=job)
    assert "answered 404" in dead.last_error and dead.payload == job.payload


def test_a_retry_delivers_after_a_failure(hooked_app, webhook_receiver, run_jobs, settings):
    settings.JOBS_RETRY_BASE_SECONDS = 0
    app, secret = hooked_app
    webhook_receiver.answer(Answer(502))
    job = enqueue(app)
    assert run_jobs(WEBHOOK_JOB, allow_failures=True) == 2
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("done", 2)
    assert [r.headers["ProstQS-Delivery-Attempt"] for r in webhook_receiver.received] == ["1", "2"]
    assert verify(secret, webhook_receiver.received[-1])


def test_a_slow_receiver_times_out_and_the_attempt_fails(hooked_app, webhook_receiver, run_jobs, settings):
    settings.APP_WEBHOOK_TIMEOUT_SECONDS = 0.3
    settings.JOBS_RETRY_BASE_SECONDS = 3600
    app, _secret = hooked_app
    webhook_receiver.answer(Answer(200, delay=1.5))
    job = enqueue(app)
    run_jobs(WEBHOOK_JOB, allow_failures=True)
    job.refresh_from_db()
    assert job.status == "pending" and job.attempts == 1 and "unreachable: ReadTimeout" in job.last_error


def test_redirects_are_followed_within_the_origin_only(hooked_app, webhook_receiver, run_jobs, settings):
    settings.JOBS_RETRY_BASE_SECONDS = 3600
    app, secret = hooked_app
    webhook_receiver.answer(Answer(308, {"Location": "/moved"}),
                            Answer(307, {"Location": webhook_receiver.url("/elsewhere", host="localhost")}))
    enqueue(app)
    run_jobs(WEBHOOK_JOB, allow_failures=True)
    # The same-origin redirect is followed with the same body; the one to another host is not.
    assert [r.path for r in webhook_receiver.received] == ["/hooks", "/moved"]
    assert webhook_receiver.received[0].body == webhook_receiver.received[1].body
    assert verify(secret, webhook_receiver.received[1])
    job = Job.objects.get(type=WEBHOOK_JOB)
    assert job.status == "pending" and "redirected to another origin (localhost); not followed" in job.last_error


def test_production_refuses_plain_http_at_once(hooked_app, webhook_receiver, run_jobs, settings, owner):
    app, _secret = hooked_app
    settings.APP_WEBHOOK_ALLOW_HTTP = False
    job = enqueue(app)
    assert run_jobs(WEBHOOK_JOB, allow_failures=True) == 1
    assert [outcome for _job, outcome in run_jobs.outcomes] == ["dead"]  # no retry can help
    assert webhook_receiver.received == []
    job.refresh_from_db()
    assert "must use https" in job.last_error
    client, _user = owner
    refused = client.post("/api/v1/apps", {"name": "Plain", "webhook_url": "http://shop.example.com/hooks"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_webhook_url"
    assert not Application.objects.filter(name="Plain").exists()


def test_production_refuses_private_addresses(hooked_app, webhook_receiver, run_jobs, settings):
    app, _secret = hooked_app
    settings.APP_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    job = enqueue(app)
    run_jobs(WEBHOOK_JOB, allow_failures=True)
    assert webhook_receiver.received == []
    job.refresh_from_db()
    assert job.status == "failed" and "non-public address (127.0.0.1)" in job.last_error


def test_rotation_signs_with_both_secrets_during_the_grace_period(hooked_app, webhook_receiver, run_jobs, owner,
                                                                   settings):
    app, old = hooked_app
    client, _user = owner
    rotated = client.post(f"/api/v1/apps/{app.pk}/webhook-secret")
    assert rotated.status_code == 201
    new = rotated.json()["webhook_secret"]
    assert new.startswith("whsec_") and new != old
    enqueue(app)
    run_jobs(WEBHOOK_JOB)
    received = webhook_receiver.received[-1]
    assert len(signatures(received.headers)) == 2 and verify(new, received) and verify(old, received)
    settings.APP_WEBHOOK_SECRET_GRACE_SECONDS = 0
    enqueue(app)
    run_jobs(WEBHOOK_JOB)
    received = webhook_receiver.received[-1]
    assert len(signatures(received.headers)) == 1 and verify(new, received) and not verify(old, received)


def test_only_the_owner_rotates_and_the_answer_is_the_only_copy(hooked_app, make_user):
    app, _secret = hooked_app
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION=f"Bearer {session_open(user=make_user()).token}")
    assert stranger.post(f"/api/v1/apps/{app.pk}/webhook-secret").status_code == 404
    assert APIClient().post(f"/api/v1/apps/{app.pk}/webhook-secret").status_code == 401
    assert Secret.objects.filter(app_id=app.pk, name=SECRET_NAME).count() == 1


def test_the_console_rotates_and_shows_the_new_secret_once(hooked_app, webhook_receiver, run_jobs):
    app, old = hooked_app
    admin = User.objects.create_user(username="console-admin", role=User.Role.SUPER_ADMIN)
    console = Client()
    console.force_login(admin)
    page = console.post("/admin/identity/application/", {"action": "rotate_webhook_secret",
                                                         "_selected_action": [str(app.pk)]})
    (new,) = [row["value"] for row in page.context["secrets"]]
    assert new.startswith("whsec_") and new != old and new in page.content.decode()
    assert "no-store" in page["Cache-Control"] and "messages" not in page.cookies
    enqueue(app)
    run_jobs(WEBHOOK_JOB)
    assert verify(new, webhook_receiver.received[-1])


def test_the_console_shows_the_secret_of_an_app_it_creates(make_user):
    admin = User.objects.create_user(username="console-admin-2", role=User.Role.SUPER_ADMIN)
    console = Client()
    console.force_login(admin)
    page = console.post("/admin/identity/application/add/", {
        "name": "Console shop", "slug": "", "owner": str(make_user().pk),
        "webhook_url": "https://shop.example.com/hooks", "credentials-TOTAL_FORMS": "0",
        "credentials-INITIAL_FORMS": "0"})
    (shown,) = [row["value"] for row in page.context["secrets"]]
    app = Application.objects.get(name="Console shop")
    assert Secret.objects.filter(app_id=app.pk, name=SECRET_NAME, status="active").count() == 1
    assert shown.startswith("whsec_") and shown in page.content.decode()
    assert "messages" not in page.cookies  # the secret is in this page only, not in a flash message's cookie
    assert page.context["next_url"] == "/admin/identity/application/"


def test_no_secret_value_reaches_logs_audit_or_jobs(hooked_app, webhook_receiver, run_jobs, settings, caplog):
    settings.JOBS_RETRY_BASE_SECONDS = 0
    settings.APP_WEBHOOK_MAX_ATTEMPTS = 2
    app, secret = hooked_app
    rotated = app_webhook_secret_rotate(app=app)
    caplog.set_level(logging.DEBUG)
    webhook_receiver.answer(Answer(500), Answer(500), Answer(500))
    enqueue(app)
    enqueue(app, type="payment_intent.confirmed")
    run_jobs(WEBHOOK_JOB, allow_failures=True)
    signed = [s for r in webhook_receiver.received for s in signatures(r.headers)]
    assert len(webhook_receiver.received) == 4 and len(signed) == 8  # two secrets in force: two signatures each
    assert DeadLetterJob.objects.count() == 1
    needles = [secret, rotated, *signed]
    from audit.services import audit_sequence

    audit_sequence()
    stored = [json.dumps([e.before, e.after, e.metadata, e.reason]) for e in AuditEvent.objects.all()]
    stored += [json.dumps([j.payload, j.last_error]) for j in Job.objects.all()]
    stored += [json.dumps([d.payload, d.last_error]) for d in DeadLetterJob.objects.all()]
    stored += [s.encrypted_value for s in Secret.objects.all()]
    for needle in needles:
        assert needle not in caplog.text
        assert not any(needle in text for text in stored)


def test_nothing_is_queued_without_an_app_or_a_webhook_url(make_user):
    quiet = app_create(owner=make_user(), name="No hooks")
    assert app_webhook_enqueue(app_id=quiet.pk, type="payout.sent", data={}) is None
    assert app_webhook_enqueue(app_id=None, type="payout.sent", data={}) is None
    with pytest.raises(InvalidInput):
        app_webhook_enqueue(app_id="not-a-uuid", type="payout.sent", data={})
    assert not Job.objects.filter(type=WEBHOOK_JOB).exists()


def test_a_deleted_app_gets_no_new_secret(hooked_app, owner):
    app, _secret = hooked_app
    app_set_status(app=app, status="deleted", reason="closed by the owner")
    client, _user = owner
    assert client.post(f"/api/v1/apps/{app.pk}/webhook-secret").status_code == 404  # gone for its owner
    with pytest.raises(Conflict) as caught:
        app_webhook_secret_rotate(app=app)
    assert caught.value.code == "app_deleted"


@pytest.mark.parametrize("type_", ["", "Payout.Sent", "payout sent", "x" * 65, None])
def test_bad_event_types_are_refused(hooked_app, type_):
    app, _secret = hooked_app
    with pytest.raises(InvalidInput):
        app_webhook_enqueue(app_id=app.pk, type=type_, data={})


def test_the_event_is_queued_only_if_the_callers_transaction_commits(hooked_app):
    app, _secret = hooked_app
    with pytest.raises(RuntimeError), transaction.atomic():
        app_webhook_enqueue(app_id=app.pk, type="payout.sent", data={})
        raise RuntimeError("the caller's change failed")
    assert not Job.objects.filter(type=WEBHOOK_JOB).exists()


def test_a_suspended_app_is_retried_and_a_deleted_one_dropped(hooked_app, webhook_receiver, run_jobs, settings):
    settings.JOBS_RETRY_BASE_SECONDS = 3600
    app, _secret = hooked_app
    job = enqueue(app)
    app_set_status(app=app, status="suspended", reason="billing dispute")
    run_jobs(WEBHOOK_JOB, allow_failures=True)
    job.refresh_from_db()
    assert job.status == "pending" and "is suspended" in job.last_error
    app_set_status(app=app, status="deleted", reason="closed")
    Job.objects.filter(pk=job.pk).update(next_run_at=job.created_at)
    run_jobs(WEBHOOK_JOB)
    job.refresh_from_db()
    assert job.status == "done" and webhook_receiver.received == []


def test_an_app_without_a_stored_secret_gets_one_before_anything_is_sent(hooked_app, webhook_receiver, run_jobs):
    app, old = hooked_app
    Secret.objects.filter(app_id=app.pk).update(status="revoked")
    enqueue(app)
    run_jobs(WEBHOOK_JOB)
    (received,) = webhook_receiver.received
    assert len(signatures(received.headers)) == 1 and not verify(old, received)
    assert Secret.objects.filter(app_id=app.pk, name=SECRET_NAME, status="active").count() == 1
