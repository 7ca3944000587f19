"""Decision lifecycles: the legal-transition table, every legal and illegal transition, the hashed chain and the
audit events."""
import itertools
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import Conflict, InvalidInput
from memory.models import DecisionLifecycle, LifecycleTransition
from memory.services import LEGAL_TRANSITIONS, lifecycle_transition, transition_is_legal
from memory.transition_hash import GENESIS_HASH, transition_hash

pytestmark = pytest.mark.django_db

STATES = ["active", "under_review", "expired", "superseded", "revoked"]
TRIGGERS = ["human", "system", "time"]
# How to reach each state from a fresh (active) lifecycle.
PATHS = {"active": [], "under_review": [("under_review", "system")], "expired": [("expired", "time")],
         "superseded": [("superseded", "system")], "revoked": [("revoked", "human")]}


def _reach(lifecycle, state, successor):
    for to_state, trigger in PATHS[state]:
        lifecycle_transition(decision_id=lifecycle.decision_id, to_state=to_state, triggered_by_type=trigger,
                             reason="setting the scene",
                             superseded_by=successor.decision_id if to_state == "superseded" else None)


def test_the_table_names_only_known_states_and_triggers():
    for (from_state, to_state), triggers in LEGAL_TRANSITIONS.items():
        assert from_state in ["", *STATES] and to_state in STATES
        assert triggers and set(triggers) <= set(TRIGGERS)
    terminal = {"expired", "superseded", "revoked"}
    assert not [pair for pair in LEGAL_TRANSITIONS if pair[0] in terminal]


@pytest.mark.parametrize(("from_state", "to_state", "trigger"), list(itertools.product(STATES, STATES, TRIGGERS)))
def test_every_transition_is_applied_exactly_when_the_table_allows_it(open_lifecycle, from_state, to_state, trigger):
    lifecycle = open_lifecycle()
    successor = open_lifecycle(action="other_action")
    _reach(lifecycle, from_state, successor)
    before = LifecycleTransition.objects.filter(decision_id=lifecycle.decision_id).count()
    kwargs = {"superseded_by": successor.decision_id} if to_state == "superseded" else {}
    if transition_is_legal(from_state, to_state, trigger):
        row = lifecycle_transition(decision_id=lifecycle.decision_id, to_state=to_state, triggered_by_type=trigger,
                                   reason="the test moves it", **kwargs)
        assert (row.from_state, row.to_state, row.sequence) == (from_state, to_state, before + 1)
        lifecycle.refresh_from_db()
        assert lifecycle.state == to_state
    else:
        with pytest.raises(Conflict) as caught:
            lifecycle_transition(decision_id=lifecycle.decision_id, to_state=to_state, triggered_by_type=trigger,
                                 reason="the test tries it", **kwargs)
        assert caught.value.code == "illegal_transition"
        lifecycle.refresh_from_db()
        assert lifecycle.state == from_state
        assert LifecycleTransition.objects.filter(decision_id=lifecycle.decision_id).count() == before


def test_legal_pairs_are_what_the_issue_describes():
    assert transition_is_legal("", "active", "system")
    assert transition_is_legal("active", "expired", "time")
    assert not transition_is_legal("active", "expired", "human")  # only the clock or a condition expires a decision
    assert transition_is_legal("under_review", "active", "human")
    assert not transition_is_legal("under_review", "active", "system")  # only a person renews
    assert not transition_is_legal("expired", "active", "human")
    assert not transition_is_legal("active", "active", "human")


def test_opening_writes_the_first_link_of_the_chain(open_lifecycle, audit_log):
    lifecycle = open_lifecycle(target_type="ad_campaign", target_id="c1", direction="pause")
    (row,) = lifecycle.transitions.all()
    assert (row.sequence, row.from_state, row.to_state, row.previous_hash) == (1, "", "active", GENESIS_HASH)
    assert row.hash == transition_hash(row, GENESIS_HASH)
    assert lifecycle.expiration_type == "review_required" and lifecycle.next_review_at > timezone.now()
    audit_log.assert_recorded("DECISION_LIFECYCLE_OPENED", target_id=lifecycle.pk,
                              after={"state": "active", "target": "ad_campaign:c1"})


def test_opening_twice_returns_the_same_lifecycle(open_lifecycle):
    decision_id = uuid.uuid4()
    first = open_lifecycle(decision_id=decision_id)
    again = open_lifecycle(decision_id=decision_id, action="something_else")
    assert again.pk == first.pk and again.action == "pause_campaign"
    assert LifecycleTransition.objects.filter(decision_id=decision_id).count() == 1


def test_expiration_type_follows_what_is_given(open_lifecycle):
    soon = timezone.now() + timedelta(hours=1)
    assert open_lifecycle(expires_at=soon).expiration_type == "expires_at"
    assert open_lifecycle(expires_at=soon).next_review_at is None
    assert open_lifecycle().expiration_type == "review_required"
    with pytest.raises(InvalidInput):
        open_lifecycle(condition="no.such.condition")


def test_each_transition_links_to_the_previous_one_and_is_audited(open_lifecycle, audit_log, make_user):
    lifecycle = open_lifecycle()
    person = make_user()
    lifecycle_transition(decision_id=lifecycle.decision_id, to_state="under_review", triggered_by_type="time",
                         reason="periodic review due")
    lifecycle_transition(decision_id=lifecycle.decision_id, to_state="active", triggered_by_type="human",
                         triggered_by=person.pk, reason="renewed after a look")
    rows = list(lifecycle.transitions.order_by("sequence"))
    assert [r.sequence for r in rows] == [1, 2, 3]
    for before, row in itertools.pairwise(rows):
        assert row.previous_hash == before.hash
        assert row.hash == transition_hash(row, before.hash)
    assert rows[2].triggered_by == person.pk and rows[2].triggered_by_type == "human"
    event = audit_log.assert_recorded("DECISION_LIFECYCLE_TRANSITIONED", before={"state": "under_review"},
                                      after={"state": "active"})
    assert event.actor_id == person.pk and event.metadata["hash"] == rows[2].hash


def test_superseding_needs_a_successor_in_force(open_lifecycle):
    lifecycle = open_lifecycle()
    with pytest.raises(InvalidInput):
        lifecycle_transition(decision_id=lifecycle.decision_id, to_state="superseded", triggered_by_type="human",
                             reason="replaced")
    with pytest.raises(InvalidInput):
        lifecycle_transition(decision_id=lifecycle.decision_id, to_state="superseded", triggered_by_type="human",
                             reason="replaced by itself", superseded_by=lifecycle.decision_id)
    successor = open_lifecycle()
    lifecycle_transition(decision_id=lifecycle.decision_id, to_state="superseded", triggered_by_type="human",
                         reason="replaced", superseded_by=successor.decision_id)
    lifecycle.refresh_from_db()
    assert lifecycle.superseded_by_id == successor.decision_id


def test_expected_from_guards_against_a_state_changed_meanwhile(open_lifecycle):
    lifecycle = open_lifecycle()
    lifecycle_transition(decision_id=lifecycle.decision_id, to_state="revoked", triggered_by_type="system",
                         reason="gone")
    with pytest.raises(Conflict) as caught:
        lifecycle_transition(decision_id=lifecycle.decision_id, to_state="expired", triggered_by_type="time",
                             reason="late", expected_from="active")
    assert caught.value.code == "lifecycle_state_changed"


def test_bad_input_is_refused_before_anything_is_written(open_lifecycle):
    lifecycle = open_lifecycle()
    for kwargs in ({"to_state": "dormant", "triggered_by_type": "human", "reason": "x"},
                   {"to_state": "revoked", "triggered_by_type": "robot", "reason": "x"},
                   {"to_state": "revoked", "triggered_by_type": "human", "reason": "  "}):
        with pytest.raises(InvalidInput):
            lifecycle_transition(decision_id=lifecycle.decision_id, **kwargs)
    assert DecisionLifecycle.objects.get(pk=lifecycle.pk).state == "active"
    assert lifecycle.transitions.count() == 1
