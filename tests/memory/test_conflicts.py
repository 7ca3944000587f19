"""Conflicts: each kind is detected when a decision becomes active; detected → acknowledged → resolved / dissolved."""
import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import Conflict, Forbidden, InvalidInput
from memory.models import DecisionConflict
from memory.selectors import unresolved_conflicts
from memory.services import (
    CONFLICT_TRANSITIONS,
    conflict_acknowledge,
    conflict_dissolve,
    conflict_resolve,
    conflict_transition_is_legal,
    lifecycle_transition,
    lifecycles_expire,
)

pytestmark = pytest.mark.django_db

CAMPAIGN = {"target_type": "ad_campaign", "target_id": "c-1"}
BUDGET = {"target_type": "ad_budget", "target_id": "b-1"}


def _conflicts(lifecycle):
    return list(DecisionConflict.objects.filter(decision_b_id=lifecycle.decision_id))


def test_pause_against_resume_of_one_campaign_is_a_direction_conflict(open_lifecycle, audit_log):
    pause = open_lifecycle(action="pause_campaign", direction="pause", **CAMPAIGN)
    resume = open_lifecycle(action="resume_campaign", direction="resume", **CAMPAIGN)
    (conflict,) = _conflicts(resume)
    assert (conflict.conflict_type, conflict.state) == ("direction", "detected")
    assert (conflict.decision_a_id, conflict.decision_b_id) == (pause.decision_id, resume.decision_id)
    assert "pause vs resume" in conflict.description
    assert (conflict.target_type, conflict.target_id) == ("ad_campaign", "c-1")
    audit_log.assert_recorded("DECISION_CONFLICT_DETECTED", target_id=conflict.pk, after={"conflict_type": "direction"})


def test_raise_against_lower_of_one_budget_is_a_direction_conflict(open_lifecycle):
    open_lifecycle(action="set_budget", direction="raise", amount=200_000, **BUDGET)
    lower = open_lifecycle(action="set_budget", direction="lower", amount=50_000, **BUDGET)
    assert [c.conflict_type for c in _conflicts(lower)] == ["direction"]


def test_credit_against_debit_of_one_reference_is_a_resource_conflict(open_lifecycle):
    open_lifecycle(domain="billing", action="credit", direction="credit", amount=5_000,
                   target_type="billing_account", target_id="a-1", reference="billing_account:a-1")
    refund = open_lifecycle(domain="billing", action="refund", direction="debit", amount=5_000,
                            target_type="ledger_entry", target_id="e-9", reference="billing_account:a-1")
    (conflict,) = _conflicts(refund)
    assert conflict.conflict_type == "resource"
    assert (conflict.target_type, conflict.target_id) == ("ledger_entry", "e-9")


def test_overlapping_authority_grants_to_one_person_are_a_scope_conflict(make_user, grant):
    person = make_user()
    first = grant(person, scopes=["billing", "ads"], max_impact="low")
    second = grant(person, scopes=["ads"], max_impact="high")
    (conflict,) = DecisionConflict.objects.filter(decision_b_id=second.pk)
    assert (conflict.conflict_type, conflict.decision_a_id) == ("scope", first.pk)
    assert "ads" in conflict.description
    other = grant(make_user(), scopes=["ads"], max_impact="high")  # someone else: no conflict
    assert not DecisionConflict.objects.filter(decision_b_id=other.pk).exists()
    disjoint = grant(person, scopes=["config"], max_impact="high")
    assert not DecisionConflict.objects.filter(decision_b_id=disjoint.pk).exists()


def test_one_target_set_twice_with_different_terms_over_the_same_time_is_a_temporal_conflict(open_lifecycle):
    later = timezone.now() + timedelta(days=7)
    first = open_lifecycle(action="set_budget", direction="raise", amount=150_000, expires_at=later, **BUDGET)
    second = open_lifecycle(action="set_budget", direction="raise", amount=180_000, **BUDGET)
    (conflict,) = _conflicts(second)
    assert (conflict.conflict_type, conflict.decision_a_id) == ("temporal", first.decision_id)
    assert later.isoformat() in conflict.description and "open-ended" in conflict.description


@pytest.mark.parametrize("fields", [
    {"action": "pause_campaign", "direction": "pause", **CAMPAIGN},                      # the same pull again
    {"action": "resume_campaign", "direction": "resume", "target_type": "ad_campaign", "target_id": "c-2"},
    {"domain": "billing", "action": "credit", "direction": "credit", "reference": "billing_account:x"},
])
def test_decisions_that_do_not_pull_against_each_other_are_not_conflicts(open_lifecycle, fields):
    open_lifecycle(action="pause_campaign", direction="pause", **CAMPAIGN)
    assert _conflicts(open_lifecycle(**fields)) == []


def test_a_decision_conflicts_with_the_latest_opposing_decision_in_force_only(open_lifecycle):
    first_pause = open_lifecycle(action="pause_campaign", direction="pause", **CAMPAIGN)
    resume = open_lifecycle(action="resume_campaign", direction="resume", **CAMPAIGN)
    second_pause = open_lifecycle(action="pause_campaign", direction="pause", **CAMPAIGN)
    second_resume = open_lifecycle(action="resume_campaign", direction="resume", **CAMPAIGN)
    assert [c.decision_a_id for c in _conflicts(resume)] == [first_pause.decision_id]
    assert [c.decision_a_id for c in _conflicts(second_pause)] == [resume.decision_id]
    # Both pauses stand, but only the latest is compared: not a second conflict with the first pause.
    assert [(c.conflict_type, c.decision_a_id) for c in _conflicts(second_resume)] == [
        ("direction", second_pause.decision_id)]


def test_temporal_terms_are_compared_with_the_latest_same_action_in_force(open_lifecycle):
    open_lifecycle(action="set_budget", amount=150_000, **BUDGET)
    latest = open_lifecycle(action="set_budget", amount=180_000, **BUDGET)
    assert [c.conflict_type for c in _conflicts(latest)] == ["temporal"]
    again = open_lifecycle(action="set_budget", amount=180_000, **BUDGET)  # the latest terms again
    assert _conflicts(again) == []
    other = open_lifecycle(action="set_budget", amount=90_000, **BUDGET)
    assert [c.decision_a_id for c in _conflicts(other)] == [again.decision_id]


def test_decisions_no_longer_in_force_are_not_in_conflict(open_lifecycle):
    pause = open_lifecycle(action="pause_campaign", direction="pause", **CAMPAIGN)
    lifecycle_transition(decision_id=pause.decision_id, to_state="revoked", triggered_by_type="system", reason="gone")
    assert _conflicts(open_lifecycle(action="resume_campaign", direction="resume", **CAMPAIGN)) == []


@pytest.fixture
def conflict(open_lifecycle):
    open_lifecycle(action="pause_campaign", direction="pause", **CAMPAIGN)
    resume = open_lifecycle(action="resume_campaign", direction="resume", **CAMPAIGN)
    return _conflicts(resume)[0]


def test_acknowledged_then_resolved_with_the_prevailing_decision(conflict, memory_authority, audit_log):
    conflict_acknowledge(conflict_id=conflict.pk, user=memory_authority, note="looking into it")
    conflict.refresh_from_db()
    assert (conflict.state, conflict.acknowledged_by) == ("acknowledged", memory_authority)
    assert list(unresolved_conflicts(target_type="ad_campaign", target_id="c-1")) == [conflict]
    conflict_resolve(conflict_id=conflict.pk, user=memory_authority, prevailing_decision_id=conflict.decision_b_id,
                     note="the campaign should run: resume wins", supersede_other=True)
    conflict.refresh_from_db()
    assert (conflict.state, conflict.prevailing_id, conflict.resolved_by) == (
        "resolved", conflict.decision_b_id, memory_authority)
    loser = conflict.decision_a
    loser.refresh_from_db()
    assert (loser.state, loser.superseded_by_id) == ("superseded", conflict.decision_b_id)
    assert not unresolved_conflicts(target_type="ad_campaign", target_id="c-1").exists()
    audit_log.assert_recorded("DECISION_CONFLICT_ACKNOWLEDGED", target_id=conflict.pk)
    audit_log.assert_recorded("DECISION_CONFLICT_RESOLVED", target_id=conflict.pk, after={"state": "resolved"})


def test_resolving_needs_one_of_the_two_decisions_and_a_note(conflict, memory_authority, open_lifecycle):
    stranger = open_lifecycle()
    with pytest.raises(InvalidInput):
        conflict_resolve(conflict_id=conflict.pk, user=memory_authority, prevailing_decision_id=stranger.decision_id,
                         note="this one is not even in the conflict")
    with pytest.raises(InvalidInput):
        conflict_resolve(conflict_id=conflict.pk, user=memory_authority,
                         prevailing_decision_id=conflict.decision_a_id, note="short")
    conflict.refresh_from_db()
    assert conflict.state == "detected"


def test_a_person_may_dissolve_a_conflict_that_is_none(conflict, memory_authority):
    conflict_dissolve(conflict_id=conflict.pk, user=memory_authority, note="planned pause and resume, same day")
    conflict.refresh_from_db()
    assert conflict.state == "dissolved" and conflict.closed_at


def test_a_conflict_dissolves_by_itself_when_one_decision_stops_standing(conflict, audit_log):
    lifecycle_transition(decision_id=conflict.decision_a_id, to_state="expired", triggered_by_type="time",
                         reason="time is up")
    conflict.refresh_from_db()
    assert conflict.state == "dissolved" and "expired" in conflict.resolution_note
    audit_log.assert_recorded("DECISION_CONFLICT_DISSOLVED", target_id=conflict.pk, actor_type="system")


def test_a_conflict_dissolves_when_the_expiry_job_ends_a_decision(open_lifecycle):
    now = timezone.now()
    open_lifecycle(action="pause_campaign", direction="pause", expires_at=now + timedelta(minutes=5), **CAMPAIGN)
    resume = open_lifecycle(action="resume_campaign", direction="resume", **CAMPAIGN)
    (conflict,) = _conflicts(resume)
    assert lifecycles_expire(now=now + timedelta(minutes=6)) == 1
    conflict.refresh_from_db()
    assert conflict.state == "dissolved"


def test_only_people_with_authority_over_the_domains_act_on_conflicts(conflict, make_user, grant):
    nobody = make_user()
    with pytest.raises(Forbidden):
        conflict_acknowledge(conflict_id=conflict.pk, user=nobody)
    billing_only = make_user()
    grant(billing_only, scopes=["billing"])
    with pytest.raises(Forbidden):
        conflict_dissolve(conflict_id=conflict.pk, user=billing_only, note="not my domain at all")
    conflict.refresh_from_db()
    assert conflict.state == "detected"


STATES = ["detected", "acknowledged", "resolved", "dissolved"]


def test_the_conflict_table_has_two_final_states():
    assert CONFLICT_TRANSITIONS["resolved"] == CONFLICT_TRANSITIONS["dissolved"] == frozenset()


@pytest.mark.parametrize(("from_state", "to_state"),
                         [(a, b) for a, b in itertools.product(STATES, STATES) if b != "detected"])
def test_every_conflict_move_is_applied_exactly_when_legal(conflict, memory_authority, from_state, to_state):
    DecisionConflict.objects.filter(pk=conflict.pk).update(state=from_state)
    act = {"acknowledged": lambda: conflict_acknowledge(conflict_id=conflict.pk, user=memory_authority),
           "resolved": lambda: conflict_resolve(conflict_id=conflict.pk, user=memory_authority,
                                                prevailing_decision_id=conflict.decision_a_id,
                                                note="pause wins, says the test"),
           "dissolved": lambda: conflict_dissolve(conflict_id=conflict.pk, user=memory_authority,
                                                  note="no conflict, says the test")}[to_state]
    if conflict_transition_is_legal(from_state, to_state):
        assert act().state == to_state
    else:
        with pytest.raises(Conflict) as caught:
            act()
        assert caught.value.code == "illegal_conflict_transition"
        conflict.refresh_from_db()
        assert conflict.state == from_state
