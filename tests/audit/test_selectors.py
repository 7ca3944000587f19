"""Reads of the audit log."""
import uuid

import pytest

from audit import selectors
from audit.services import audit_record

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def test_events_after_returns_one_apps_events_after_a_sequence_in_order(audit_log):
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    for app in (mine, theirs, mine, None, mine):
        audit_record("AUDIT_VERIFIED", action="x", app_id=app)
    audit_log.events()  # chain
    assert list(selectors.events_after(app_id=mine, after_sequence=0).values_list("sequence", flat=True)) == [1, 3, 5]
    assert list(selectors.events_after(app_id=mine, after_sequence=3).values_list("sequence", flat=True)) == [5]
    assert list(selectors.events_after(app_id=str(theirs)).values_list("sequence", flat=True)) == [2]
    # None is "no application", never "every application".
    assert list(selectors.events_after(app_id=None).values_list("sequence", flat=True)) == [4]


def test_events_for_target_and_actor(audit_log):
    payment, actor = uuid.uuid4(), uuid.uuid4()
    audit_record("AUDIT_VERIFIED", action="create", target_type="payment", target_id=payment, actor_id=actor)
    audit_record("AUDIT_VERIFIED", action="other", target_type="payment", target_id=uuid.uuid4())
    audit_record("AUDIT_VERIFIED", action="confirm", target_type="payment", target_id=payment)
    audit_log.events()
    assert [e.action for e in selectors.events_for_target("payment", payment)] == ["create", "confirm"]
    assert [e.action for e in selectors.events_for_target("ledger", payment)] == []
    assert [e.action for e in selectors.events_for_actor(actor)] == ["create"]


def test_chain_head_and_backlog(settings, audit_log):
    settings.AUDIT_SEQUENCE_ON_COMMIT = False
    assert selectors.chain_head() is None
    audit_record("AUDIT_VERIFIED", action="x")
    assert selectors.staged_backlog()[0] == 1
    event = audit_log.last()
    assert selectors.chain_head() == (1, event.hash)
    assert selectors.staged_backlog() == (0, None)


def test_audit_log_fixture_matches_payload_subsets(audit_log):
    audit_record("AUDIT_VERIFIED", action="a", after={"status": "paid", "amount": 5})
    audit_record("AUDIT_VERIFIED", action="b", after={"status": "open"})
    assert audit_log.assert_recorded("AUDIT_VERIFIED", after={"status": "paid"}).action == "a"
    audit_log.assert_not_recorded("AUDIT_VERIFIED", after={"status": "void"})
    with pytest.raises(AssertionError, match="expected one AUDIT_VERIFIED"):
        audit_log.assert_recorded("AUDIT_VERIFIED")
    assert audit_log.types() == ["AUDIT_VERIFIED", "AUDIT_VERIFIED"] and len(audit_log) == 2
