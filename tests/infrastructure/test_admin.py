"""The console: jobs and dead letters with counts and actions, secrets as metadata only, kill switches with a
confirmation page and a mandatory reason."""
from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from identity.models import User
from infrastructure import events
from infrastructure.models import DeadLetterJob, Job, KillSwitch, Secret
from infrastructure.services.jobs import job_enqueue, job_execute, jobs_claim
from infrastructure.services.killswitches import killswitch_activate, killswitch_is_halted
from infrastructure.services.secrets import secret_get, secret_put
from tests.clients import Client
from tests.infrastructure.conftest import audited

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]

VALUE = "whsec_admin-page-must-never-show-this-91c2"


@pytest.fixture
def console(db) -> Client:
    user = User.objects.create_superuser("console-admin")  # no password: force_login, no hashing cost
    client = Client()
    client.force_login(user)
    client.user = user
    return client


def changelist(model) -> str:
    return reverse(f"admin:infrastructure_{model._meta.model_name}_changelist")


def act(client: Client, model, action: str, objects, **data):
    return client.post(changelist(model), {"action": action, ACTION_CHECKBOX_NAME: [str(o.pk) for o in objects],
                                           **data}, follow=False)


# --- jobs -------------------------------------------------------------------------------------------------------


def test_the_jobs_list_shows_counts_by_status_and_filters(console, effects):
    for _ in range(3):
        job_enqueue("test.effect")
    done = job_enqueue("test.effect", priority=9)
    [claimed] = jobs_claim(worker="w", types=["test.effect"])
    assert claimed.id == done.id
    job_execute(claimed, worker="w")
    page = console.get(changelist(Job)).content.decode()
    assert 'data-status="pending"' in page and "Pending: <strong>3</strong>" in page
    assert "Done: <strong>1</strong>" in page and "Failed: <strong>0</strong>" in page
    filtered = console.get(changelist(Job), {"status__exact": "done"})
    assert filtered.context["cl"].result_count == 1


def test_jobs_cannot_be_added_edited_or_deleted_by_hand(console):
    job = job_enqueue("test.effect", payload={"order": 1})
    assert console.get(reverse("admin:infrastructure_job_add")).status_code == 403
    page = console.get(reverse("admin:infrastructure_job_change", args=[job.pk]))
    assert page.status_code == 200 and "&quot;order&quot;: 1" in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
    console.post(reverse("admin:infrastructure_job_change", args=[job.pk]), {"priority": 99})
    assert Job.objects.get(pk=job.pk).priority == 0


def test_retry_now_action(console):
    from datetime import timedelta

    from django.utils import timezone

    later = job_enqueue("test.effect", run_at=timezone.now() + timedelta(hours=2))
    response = act(console, Job, "retry_now", [later])
    assert response.status_code == 302
    assert Job.objects.get(pk=later.pk).next_run_at <= timezone.now()
    assert len(audited(events.JOB_RETRIED)) == 1


def test_cancel_asks_for_confirmation_and_a_reason(console):
    job = job_enqueue("test.effect")
    page = act(console, Job, "cancel", [job])
    assert page.status_code == 200 and 'name="reason"' in page.content.decode()
    assert Job.objects.get(pk=job.pk).status == Job.Status.PENDING

    again = act(console, Job, "cancel", [job], confirm="yes", reason="")
    assert again.status_code == 200 and "errorlist" in again.content.decode()
    assert Job.objects.get(pk=job.pk).status == Job.Status.PENDING

    act(console, Job, "cancel", [job], confirm="yes", reason="duplicate of another job")
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and job.cancelled_at is not None
    [event] = audited(events.JOB_CANCELLED)
    assert event.reason == "duplicate of another job" and str(event.actor_id) == str(console.user.pk)


def test_dead_letters_list_and_requeue(console, effects):
    job = job_enqueue("test.always_fails", max_attempts=1, payload={"k": "v"})
    [claimed] = jobs_claim(worker="w", types=["test.always_fails"])
    job_execute(claimed, worker="w")
    dead = DeadLetterJob.objects.get(original_job=job)
    page = console.get(changelist(DeadLetterJob)).content.decode()
    assert "boom on attempt 1" in page
    assert console.get(changelist(DeadLetterJob), {"requeued_at__isempty": "1"}).context["cl"].result_count == 1

    act(console, DeadLetterJob, "requeue", [dead])
    dead.refresh_from_db()
    assert dead.requeued_job is not None and dead.requeued_job.status == Job.Status.PENDING
    assert dead.requeued_job.payload == {"k": "v"}
    act(console, DeadLetterJob, "requeue", [dead])  # a second requeue is refused, no new job
    assert Job.objects.filter(type="test.always_fails").count() == 2


# --- secrets ----------------------------------------------------------------------------------------------------


def test_secrets_are_added_through_the_service_and_their_value_is_never_shown(console, keyring):
    response = console.post(reverse("admin:infrastructure_secret_add"), {
        "name": "partner.webhook", "app_id": "", "type": "api_key", "environment": "production",
        "expires_at": "", "value": VALUE}, follow=True)
    assert response.status_code == 200
    secret = Secret.objects.get(name="partner.webhook")
    assert secret_get("partner.webhook", environment="production") == VALUE
    assert len(audited(events.SECRET_CREATED)) == 1
    pages = [
        response.content.decode(),
        console.get(changelist(Secret)).content.decode(),
        console.get(reverse("admin:infrastructure_secret_change", args=[secret.pk])).content.decode(),
        console.get(reverse("admin:infrastructure_secret_add")).content.decode(),
    ]
    assert "partner.webhook" in pages[1]
    for page in pages:
        assert VALUE not in page
        assert secret.encrypted_value not in page


def test_a_secret_cannot_be_edited_or_deleted_from_the_console(console, keyring):
    secret = secret_put("fixed", VALUE)
    url = reverse("admin:infrastructure_secret_change", args=[secret.pk])
    assert 'name="_save"' not in console.get(url).content.decode()
    assert console.post(url, {"name": "renamed"}).status_code in (302, 403)
    assert Secret.objects.get(pk=secret.pk).name == "fixed"
    assert console.get(reverse("admin:infrastructure_secret_delete", args=[secret.pk])).status_code == 403


def test_rotate_action_makes_a_new_version_without_showing_it(console, keyring):
    secret = secret_put("signing.key", VALUE, type=Secret.Type.ENCRYPTION_KEY)
    page = act(console, Secret, "rotate", [secret])
    assert page.status_code == 200 and 'type="password"' in page.content.decode()
    done = act(console, Secret, "rotate", [secret], confirm="yes", value="")
    assert done.status_code == 302
    assert list(Secret.objects.filter(name="signing.key").order_by("version").values_list("status", flat=True)) == [
        "rotated", "active"]
    new_value = secret_get("signing.key")
    assert new_value != VALUE
    assert new_value not in console.get(changelist(Secret)).content.decode()


def test_revoke_action_needs_a_reason(console, keyring):
    secret = secret_put("old.key", VALUE)
    act(console, Secret, "revoke", [secret], confirm="yes", reason="")
    assert Secret.objects.get(pk=secret.pk).status == Secret.Status.ACTIVE
    act(console, Secret, "revoke", [secret], confirm="yes", reason="vendor contract ended")
    assert Secret.objects.get(pk=secret.pk).status == Secret.Status.REVOKED


# --- kill switches ----------------------------------------------------------------------------------------------


def test_activation_goes_through_a_confirmation_page_with_a_mandatory_reason(console):
    switch = KillSwitch.objects.get(scope="billing")
    page = act(console, KillSwitch, "activate", [switch])
    body = page.content.decode()
    assert page.status_code == 200 and 'name="reason"' in body and 'name="confirm" value="yes"' in body
    assert not killswitch_is_halted("billing")

    refused = act(console, KillSwitch, "activate", [switch], confirm="yes", reason="")
    assert refused.status_code == 200 and "errorlist" in refused.content.decode()
    assert not KillSwitch.objects.get(scope="billing").active

    act(console, KillSwitch, "activate", [switch], confirm="yes", reason="payment provider incident",
        expires_at="")
    switch.refresh_from_db()
    assert switch.active and switch.reason == "payment provider incident"
    assert switch.activated_by == console.user.pk
    assert killswitch_is_halted("billing")
    [event] = audited(events.KILL_SWITCH_ACTIVATED)
    assert event.actor_type == "admin"


def test_activation_with_an_expiry(console):
    switch = KillSwitch.objects.get(scope="ads")
    act(console, KillSwitch, "activate", [switch], confirm="yes", reason="campaign review",
        expires_at="2099-01-31 18:00")
    switch.refresh_from_db()
    assert switch.active and switch.expires_at.year == 2099


def test_deactivation_asks_for_a_reason_too(console):
    killswitch_activate("agents", reason="rogue agent", actor=console.user)
    switch = KillSwitch.objects.get(scope="agents")
    assert 'name="reason"' in act(console, KillSwitch, "deactivate", [switch]).content.decode()
    act(console, KillSwitch, "deactivate", [switch], confirm="yes", reason="")
    assert KillSwitch.objects.get(scope="agents").active
    act(console, KillSwitch, "deactivate", [switch], confirm="yes", reason="agent retrained")
    assert not KillSwitch.objects.get(scope="agents").active


def test_kill_switch_history_is_visible_but_cannot_be_reverted(console):
    killswitch_activate("jobs", reason="queue incident", actor=console.user)
    switch = KillSwitch.objects.get(scope="jobs")
    history = console.get(reverse("admin:infrastructure_killswitch_history", args=[switch.pk]))
    assert history.status_code == 200 and "queue incident" in history.content.decode()
    record = switch.history.earliest("history_date")
    url = reverse("admin:infrastructure_killswitch_simple_history", args=[switch.pk, record.history_id])
    assert console.get(url).status_code == 200
    assert console.post(url, {}).status_code == 403
    assert console.get(reverse("admin:infrastructure_killswitch_add")).status_code == 403
    assert console.get(reverse("admin:infrastructure_killswitch_delete", args=[switch.pk])).status_code == 403
