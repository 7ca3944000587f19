"""Request and task context reach audit_record without callers passing them."""
import uuid

import pytest
from celery import shared_task

from audit import context
from audit.services import audit_record
from audit.tasks import audit_checkpoint_task
from identity.models import User

pytestmark = [pytest.mark.smoke, pytest.mark.urls("tests.audit.urls")]


@shared_task(name="tests.audit.record_from_task")
def record_from_task() -> dict:
    ctx = context.current()
    audit_record("AUDIT_VERIFIED", action="from-task")
    return {"actor_type": ctx.actor_type, "actor_id": ctx.actor_id, "ip": ctx.ip}


@pytest.mark.django_db
def test_a_request_records_its_ip_user_agent_and_console_user(client, audit_log):
    staff = User.objects.create_superuser("auditor", "a-long-password-1")
    client.force_login(staff)
    client.get("/record/", REMOTE_ADDR="198.51.100.7", HTTP_USER_AGENT="Firefox/140")
    event = audit_log.assert_recorded("AUDIT_VERIFIED", action="from-request")
    assert (event.actor_id, event.actor_type, event.ip, event.user_agent) == (
        staff.id, "admin", "198.51.100.7", "Firefox/140")


@pytest.mark.django_db
def test_an_ordinary_user_is_recorded_as_a_user(client, audit_log):
    person = User.objects.create_user("person", "a-long-password-1")
    client.force_login(person)
    client.get("/record/")
    event = audit_log.assert_recorded("AUDIT_VERIFIED", action="from-request")
    assert (event.actor_id, event.actor_type) == (person.id, "user")


@pytest.mark.django_db
def test_an_anonymous_request_is_the_system_from_that_address(client, audit_log):
    client.get("/record/", REMOTE_ADDR="192.0.2.1")
    event = audit_log.assert_recorded("AUDIT_VERIFIED", action="from-request")
    assert (event.actor_id, event.actor_type, event.ip) == (None, "system", "192.0.2.1")


@pytest.mark.django_db
def test_the_request_context_ends_with_the_request(client):
    client.get("/record/", REMOTE_ADDR="192.0.2.1")
    assert context.current() == context.AuditContext()


@pytest.mark.django_db
def test_a_task_runs_as_the_system_and_the_callers_context_comes_back(audit_log):
    user = uuid.uuid4()
    with context.scope(actor_id=user, actor_type="user", ip="203.0.113.5", user_agent="app/1"):
        seen = record_from_task.apply().get()
        assert context.current().actor_id == user  # restored after the task
    assert seen == {"actor_type": "system", "actor_id": None, "ip": None}
    event = audit_log.assert_recorded("AUDIT_VERIFIED", action="from-task")
    assert (event.actor_type, event.actor_id, event.ip, event.user_agent) == ("system", None, None, "")


@pytest.mark.django_db
def test_the_checkpoint_task_records_as_the_system(audit_log, checkpoint_key):
    with context.scope(actor_id=uuid.uuid4(), actor_type="admin"):
        audit_checkpoint_task.apply().get()
    event = audit_log.assert_recorded("AUDIT_CHECKPOINT_SIGNED")
    assert (event.actor_type, event.actor_id) == ("system", None)


def test_bind_adds_to_the_context_for_the_rest_of_the_scope():
    with context.scope(ip="192.0.2.2"):
        context.bind(app_id=uuid.UUID(int=7))
        assert (context.current().ip, context.current().app_id) == ("192.0.2.2", uuid.UUID(int=7))
    assert context.current().app_id is None
