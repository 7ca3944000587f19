"""Precedents: recorded from a reviewed decision with its observed result; states; ranked by similarity; shown
beside an approval request with the unresolved conflicts on its target."""
import itertools
import json

import pytest

from core.errors import Conflict, Forbidden, InvalidInput
from memory.models import DecisionPrecedent
from memory.selectors import approval_memory, similar_precedents
from memory.services import (
    PRECEDENT_TRANSITIONS,
    precedent_record,
    precedent_set_state,
    precedent_transition_is_legal,
    review_decide,
    review_open,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewed(open_lifecycle, memory_authority):
    """A decision in force that a person reviewed (renewed)."""

    def make(*, amount=0, facts=None, domain="billing", action="payout", **fields):
        lifecycle = open_lifecycle(domain=domain, action=action, amount=amount,
                                   context={"facts": facts or {}}, **fields)
        review = review_open(decision_id=lifecycle.decision_id, review_type="periodic", reason="due",
                             triggered_by_type="time")
        review_decide(review_id=review.pk, user=memory_authority, outcome="renewed",
                      justification="Worked as intended so far.")
        return lifecycle

    return make


@pytest.fixture
def precedent(reviewed, memory_authority):
    def make(*, result=None, **fields):
        lifecycle = reviewed(**fields)
        return precedent_record(decision_id=lifecycle.decision_id, created_by=memory_authority,
                                observed_result=result or {"outcome": "ok"})

    return make


def test_a_reviewed_decision_with_an_observed_result_becomes_a_precedent(reviewed, memory_authority, audit_log):
    lifecycle = reviewed(amount=250_000, facts={"destination_type": "pix"})
    precedent = precedent_record(decision_id=lifecycle.decision_id, created_by=memory_authority,
                                 observed_result={"chargeback": False, "customer_complaints": 0})
    assert (precedent.state, precedent.domain, precedent.action, precedent.amount) == (
        "active", "billing", "payout", 250_000)
    assert json.loads(precedent.observed_result) == {"chargeback": False, "customer_complaints": 0}
    snapshot = json.loads(precedent.original_context)
    assert snapshot["context"]["facts"] == {"destination_type": "pix"} and snapshot["review"]["outcome"] == "renewed"
    audit_log.assert_recorded("DECISION_PRECEDENT_RECORDED", target_id=precedent.pk)
    with pytest.raises(Conflict) as caught:
        precedent_record(decision_id=lifecycle.decision_id, created_by=memory_authority, observed_result={"x": 1})
    assert caught.value.code == "precedent_exists"


def test_a_decision_never_reviewed_is_not_a_precedent(open_lifecycle, memory_authority):
    lifecycle = open_lifecycle(domain="billing", action="payout")
    with pytest.raises(Conflict) as caught:
        precedent_record(decision_id=lifecycle.decision_id, created_by=memory_authority, observed_result={"ok": 1})
    assert caught.value.code == "decision_not_reviewed"


def test_a_precedent_needs_a_result_and_an_authority(reviewed, memory_authority, make_user):
    lifecycle = reviewed()
    with pytest.raises(InvalidInput):
        precedent_record(decision_id=lifecycle.decision_id, created_by=memory_authority, observed_result={})
    with pytest.raises(Forbidden):
        precedent_record(decision_id=lifecycle.decision_id, created_by=make_user(), observed_result={"ok": 1})
    assert not DecisionPrecedent.objects.exists()


def test_precedents_rank_by_nearest_amount_within_the_same_domain_and_action(precedent):
    near = precedent(amount=5_000, result={"label": "near"})
    middle = precedent(amount=1_000, result={"label": "middle"})
    far = precedent(amount=100_000, result={"label": "far"})
    precedent(amount=4_800, action="refund")  # another action: never shown for payouts
    precedent(amount=4_800, domain="ads", action="payout")  # another domain
    ranked = similar_precedents(domain="billing", action="payout", amount=4_800)
    assert [p.precedent for p in ranked] == [near, middle, far]
    assert [p.result["label"] for p in ranked] == ["near", "middle", "far"]
    assert ranked[0].score > ranked[1].score > ranked[2].score
    assert ranked[0].amount_similarity == pytest.approx(1 - 200 / 5_000)
    assert [p.precedent for p in similar_precedents(domain="billing", action="payout", amount=4_800, limit=2)] == [
        near, middle]


def test_with_equal_amounts_the_closer_context_ranks_first(precedent):
    alike = precedent(amount=10_000, facts={"destination_type": "pix", "currency": "BRL", "hour": 14})
    unlike = precedent(amount=10_000, facts={"destination_type": "bank_account", "currency": "USD", "hour": 3})
    ranked = similar_precedents(domain="billing", action="payout", amount=10_000,
                                context={"facts": {"destination_type": "pix", "currency": "BRL", "hour": 15}})
    assert [p.precedent for p in ranked] == [alike, unlike]
    assert ranked[0].context_similarity == pytest.approx(2 / 4) and ranked[1].context_similarity == 0


def test_deprecated_and_archived_precedents_are_not_offered(precedent, memory_authority):
    kept = precedent(amount=1_000)
    old = precedent(amount=1_000)
    gone = precedent(amount=1_000)
    disputed = precedent(amount=1_000)
    precedent_set_state(precedent_id=old.pk, state="deprecated", user=memory_authority, reason="rules changed")
    precedent_set_state(precedent_id=gone.pk, state="archived", user=memory_authority, reason="too old")
    precedent_set_state(precedent_id=disputed.pk, state="contested", user=memory_authority, reason="disputed")
    offered = [p.precedent for p in similar_precedents(domain="billing", action="payout", amount=1_000)]
    assert set(offered) == {kept, disputed} and offered[0] == kept  # active first on equal scores


STATES = ["active", "deprecated", "contested", "archived"]


@pytest.mark.parametrize(("from_state", "to_state"),
                         [(a, b) for a, b in itertools.product(STATES, STATES)])
def test_every_precedent_state_change_is_applied_exactly_when_legal(precedent, memory_authority, from_state,
                                                                    to_state):
    item = precedent()
    DecisionPrecedent.objects.filter(pk=item.pk).update(state=from_state)
    if precedent_transition_is_legal(from_state, to_state):
        assert precedent_set_state(precedent_id=item.pk, state=to_state, user=memory_authority,
                                   reason="the test says so").state == to_state
    else:
        with pytest.raises(Conflict):
            precedent_set_state(precedent_id=item.pk, state=to_state, user=memory_authority, reason="the test")
        item.refresh_from_db()
        assert item.state == from_state
    assert PRECEDENT_TRANSITIONS["archived"] == frozenset()


def test_the_approval_screen_gets_precedents_and_conflicts_on_the_target(precedent, open_lifecycle, request_factory,
                                                                        test_domain):
    shown = precedent(domain="test", action="payout", amount=500_000, result={"chargeback": False})
    open_lifecycle(domain="test", action="credit", direction="credit", target_type="billing_account",
                   target_id="acc-1", reference="billing_account:acc-1")
    open_lifecycle(domain="test", action="payout", direction="debit", target_type="billing_account",
                   target_id="acc-1", reference="billing_account:acc-1")
    open_lifecycle(domain="test", action="pause", direction="pause", target_type="ad_campaign", target_id="x")
    open_lifecycle(domain="test", action="resume", direction="resume", target_type="ad_campaign", target_id="x")
    request = request_factory(amount=480_000, target_type="billing_account", target_id="acc-1")
    memory = approval_memory(request=request)
    assert [p.precedent for p in memory["precedents"]] == [shown]
    assert memory["precedents"][0].result == {"chargeback": False}
    assert [(c.conflict_type, c.target_id) for c in memory["conflicts"]] == [("resource", "acc-1")]
