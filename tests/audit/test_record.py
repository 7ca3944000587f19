"""Recording: the event commits or rolls back with the change it describes, and what is stored is what is hashed."""
import decimal
import uuid
from datetime import UTC, datetime

import pytest
from django.db import transaction

from audit import chain, context
from audit.models import AuditEvent, StagedEvent
from audit.services import audit_record, audit_sequence
from audit.verification import chain_verify

from .conftest import record


class Boom(Exception):
    pass


@transaction.atomic
def refund_that_fails_after_recording(target_id):
    audit_record("AUDIT_VERIFIED", action="refund", target_type="payment", target_id=target_id,
                 after={"status": "refunded"})
    raise Boom("the provider refused")


@transaction.atomic
def refund_that_succeeds(target_id):
    audit_record("AUDIT_VERIFIED", action="refund", target_type="payment", target_id=target_id,
                 after={"status": "refunded"})


@pytest.mark.smoke
@pytest.mark.django_db(transaction=True)
def test_a_service_that_raises_after_recording_leaves_no_event():
    target = uuid.uuid4()
    with pytest.raises(Boom):
        refund_that_fails_after_recording(target)
    audit_sequence()
    assert not StagedEvent.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.smoke
@pytest.mark.django_db(transaction=True)
def test_a_committed_event_is_chained_right_after_commit():
    target = uuid.uuid4()
    refund_that_succeeds(target)
    # No explicit audit_sequence(): the after-commit hook chained it.
    event = AuditEvent.objects.get()
    assert (event.sequence, event.previous_hash, event.target_id) == (1, chain.GENESIS_HASH, target)
    assert event.after == {"status": "refunded"}
    assert not StagedEvent.objects.exists()


@pytest.mark.smoke
@pytest.mark.django_db
def test_recorded_fields_are_stored_and_chained(audit_log):
    actor, target, app, policy = (uuid.uuid4() for _ in range(4))
    audit_record("AUDIT_VERIFIED", action="approve", target_type="payout", target_id=target, before={"s": 1},
                 after={"s": 2}, metadata={"why": "test"}, reason="limit", policy_id=policy, actor_id=actor,
                 actor_type="agent", app_id=app)
    event = audit_log.assert_recorded("AUDIT_VERIFIED", target_id=target, after={"s": 2})
    assert (event.action, event.target_type, event.actor_id, event.actor_type, event.app_id, event.policy_id,
            event.reason) == ("approve", "payout", actor, "agent", app, policy, "limit")
    assert (event.before, event.metadata) == ({"s": 1}, {"why": "test"})
    assert chain_verify().ok


@pytest.mark.smoke
@pytest.mark.django_db
def test_context_supplies_actor_app_ip_and_user_agent_unless_given(audit_log):
    user, app, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with context.scope(actor_id=user, actor_type="user", app_id=app, ip="203.0.113.9", user_agent="curl/8"):
        audit_record("AUDIT_VERIFIED", action="from-context")
        audit_record("AUDIT_VERIFIED", action="overridden", actor_id=other, actor_type="admin")
    implicit, explicit = audit_log.events()
    assert (implicit.actor_id, implicit.actor_type, implicit.app_id, implicit.ip, implicit.user_agent) == (
        user, "user", app, "203.0.113.9", "curl/8")
    assert (explicit.actor_id, explicit.actor_type, explicit.app_id) == (other, "admin", app)


@pytest.mark.smoke
@pytest.mark.django_db
def test_without_context_the_actor_is_the_system(audit_log):
    audit_record("AUDIT_VERIFIED", action="cron")
    event = audit_log.last()
    assert (event.actor_type, event.actor_id, event.ip, event.app_id) == ("system", None, None, None)


@pytest.mark.smoke
@pytest.mark.django_db
@pytest.mark.parametrize("kwargs, message", [
    ({"action": ""}, "needs an action"),
    ({"action": "x", "actor_type": "robot"}, "unknown audit actor type"),
])
def test_malformed_records_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        audit_record("AUDIT_VERIFIED", **kwargs)
    assert not StagedEvent.objects.exists()


@pytest.mark.smoke
@pytest.mark.django_db
def test_awkward_values_are_stored_so_that_the_chain_still_verifies(audit_log):
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    ident = uuid.uuid4()
    audit_record("AUDIT_VERIFIED", action="awkward", reason="nul\x00byte", before={
        "big": 2**70, "float": 1e16, "tiny": 1e-7, "neg_zero": -0.0, "pi": 3.141592653589793,
        "nan": float("nan"), "text": "ação ✓ \u2028", "surrogate": "a\ud800b", "nul": "x\x00y",
        "when": when, "money": decimal.Decimal("12.50"), "id": ident, "nested": [{"b": 1, "a": [None, True]}],
    })
    event = audit_log.last()
    assert event.reason == "nulbyte"
    assert event.before["big"] == 2**70 and event.before["float"] == 1e16 and event.before["tiny"] == 1e-7
    assert event.before["nan"] == "nan"
    assert event.before["surrogate"] == "a?b" and event.before["nul"] == "x\x00y"  # escaped inside JSON
    assert event.before["when"] == "2026-01-02T03:04:05.678Z"  # DjangoJSONEncoder's spelling
    assert event.before["money"] == "12.50" and event.before["id"] == str(ident)
    result = chain_verify()
    assert result.ok, result.problem


@pytest.mark.smoke
@pytest.mark.django_db
def test_sequence_is_gap_free_across_batches(audit_log, settings):
    settings.AUDIT_SEQUENCE_ON_COMMIT = False
    record(25)
    assert audit_sequence(batch_size=7) == 25
    sequences = list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, 26))
    assert chain_verify().ok
    assert audit_sequence() == 0


@pytest.mark.smoke
@pytest.mark.django_db
def test_the_audit_log_fixture_can_look_only_at_new_events(audit_log):
    record(2)
    audit_log.mark()
    record(1, action="later")
    assert [e.action for e in audit_log] == ["later"]
    audit_log.assert_not_recorded("AUDIT_VERIFIED", action="test")
