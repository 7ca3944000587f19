"""The event type registry: one name, one registration; unknown types fail when recorded."""
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from audit import events
from audit.models import AuditEvent, StagedEvent
from audit.services import audit_record

pytestmark = pytest.mark.smoke


@pytest.fixture
def scratch_registry(monkeypatch):
    monkeypatch.setattr(events, "_REGISTRY", dict(events._REGISTRY))


def test_register_returns_the_name_and_get_finds_it(scratch_registry):
    assert events.register("TEST_THING_DONE", "A test thing was done.") == "TEST_THING_DONE"
    assert events.get("TEST_THING_DONE").description == "A test thing was done."


def test_registering_a_type_twice_fails(scratch_registry):
    events.register("TEST_TWICE", "first")
    with pytest.raises(ImproperlyConfigured, match="registered twice"):
        events.register("TEST_TWICE", "second")


@pytest.mark.parametrize("name", ["lower_case", "AB", "WITH SPACE", "1LEADING_DIGIT", "X" * 65])
def test_malformed_names_are_refused(scratch_registry, name):
    with pytest.raises(ImproperlyConfigured, match="UPPER_SNAKE_CASE"):
        events.register(name, "bad")


def test_an_unknown_type_cannot_be_looked_up():
    with pytest.raises(events.UnknownEventType, match="NOT_A_REGISTERED_TYPE"):
        events.get("NOT_A_REGISTERED_TYPE")


@pytest.mark.django_db
def test_recording_an_unknown_type_fails_and_writes_nothing():
    with pytest.raises(events.UnknownEventType), transaction.atomic():
        audit_record("NOT_A_REGISTERED_TYPE", action="x")
    assert not StagedEvent.objects.exists()
    assert not AuditEvent.objects.exists()


def test_the_audit_apps_own_types_are_registered():
    names = {t.name for t in events.all_types()}
    assert {"AUDIT_CHECKPOINT_SIGNED", "AUDIT_VERIFIED"} <= names
