"""Reviews: opened by time, by a policy change (found with the dry run) and by a context change; decided by a person
with authority; expired decisions stop standing on time."""
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, Forbidden, InvalidInput
from governance.services.policies import policy_evaluate, policy_update
from memory.models import DecisionReview, LifecycleTransition
from memory.selectors import lifecycles_in_force, reviews_due_for
from memory.services import (
    lifecycle_context_changed,
    lifecycles_expire,
    memory_tick,
    register_expiry_condition,
    review_decide,
    review_open,
    unregister_expiry_condition,
)

pytestmark = pytest.mark.django_db


def _last_transition(lifecycle):
    return LifecycleTransition.objects.filter(decision_id=lifecycle.decision_id).order_by("-sequence").first()


# --- periodic reviews, opened on time ---------------------------------------------------------------------------


def test_a_review_opens_when_next_review_at_comes_and_not_before(open_lifecycle, audit_log):
    now = timezone.now()
    lifecycle = open_lifecycle(next_review_at=now + timedelta(days=30))
    assert memory_tick(now=now + timedelta(days=29)).reviews_opened == 0
    assert memory_tick(now=now + timedelta(days=30, seconds=1)).reviews_opened == 1
    (review,) = DecisionReview.objects.filter(decision_id=lifecycle.decision_id)
    assert (review.review_type, review.outcome, review.triggered_by_type) == ("periodic", "pending", "time")
    lifecycle.refresh_from_db()
    assert lifecycle.state == "under_review"
    assert (_last_transition(lifecycle).to_state, _last_transition(lifecycle).triggered_by_type) == (
        "under_review", "time")
    assert memory_tick(now=now + timedelta(days=31)).reviews_opened == 0  # one open review at a time
    audit_log.assert_recorded("DECISION_REVIEW_OPENED", target_id=review.pk, after={"review_type": "periodic"})


def test_the_scheduled_task_queues_the_job_that_opens_due_reviews(open_lifecycle, run_jobs):
    from memory.tasks import memory_tick as memory_tick_task

    lifecycle = open_lifecycle(next_review_at=timezone.now() - timedelta(seconds=1))
    assert memory_tick_task() is True
    assert memory_tick_task() is False  # one waiting at a time
    run_jobs("governance.memory_tick")
    assert DecisionReview.objects.open().filter(decision_id=lifecycle.decision_id, review_type="periodic").exists()


# --- expiry on time ----------------------------------------------------------------------------------------------


def test_an_expired_decision_stops_standing_at_its_expiry_and_the_job_records_it(open_lifecycle, audit_log):
    now = timezone.now()
    lifecycle = open_lifecycle(expires_at=now + timedelta(hours=1))
    assert lifecycle in lifecycles_in_force(now=now + timedelta(minutes=59))
    # Past the expiry it no longer stands, even before the job has run.
    assert lifecycle not in lifecycles_in_force(now=now + timedelta(hours=1))
    assert memory_tick(now=now + timedelta(minutes=59)).expired == 0
    assert memory_tick(now=now + timedelta(hours=1, seconds=1)).expired == 1
    lifecycle.refresh_from_db()
    assert lifecycle.state == "expired"
    last = _last_transition(lifecycle)
    assert (last.from_state, last.to_state, last.triggered_by_type) == ("active", "expired", "time")
    assert memory_tick(now=now + timedelta(hours=2)).expired == 0
    audit_log.assert_recorded("DECISION_LIFECYCLE_TRANSITIONED", target_id=lifecycle.pk, after={"state": "expired"})


def test_an_expiry_closes_the_open_review(open_lifecycle):
    now = timezone.now()
    lifecycle = open_lifecycle(expires_at=now + timedelta(hours=1))
    review = review_open(decision_id=lifecycle.decision_id, review_type="context_change", reason="the target moved")
    lifecycles_expire(now=now + timedelta(hours=2))
    review.refresh_from_db()
    assert not review.is_open and review.decided_by is None and "expired" in review.justification


def test_a_decision_expires_when_its_condition_says_it_no_longer_holds(open_lifecycle):
    holds = {"value": True}
    register_expiry_condition("test.holds", lambda lifecycle, now: None if holds["value"] else "it stopped holding")
    try:
        lifecycle = open_lifecycle(condition="test.holds")
        assert lifecycle.expiration_type == "expires_on_condition"
        assert lifecycles_expire() == 0
        holds["value"] = False
        assert lifecycles_expire() == 1
        lifecycle.refresh_from_db()
        last = _last_transition(lifecycle)
        assert (lifecycle.state, last.triggered_by_type) == ("expired", "system")
        assert "it stopped holding" in last.reason
    finally:
        unregister_expiry_condition("test.holds")


# --- policy changes -----------------------------------------------------------------------------------------------


@pytest.fixture
def approved_payout(open_lifecycle, make_policy):
    """A payout of 3,000 the policies allowed (its evaluation is what the dry run replays)."""
    allow = make_policy(resource="test", action="payout", effect="allow", name="payouts allowed")
    evaluation = policy_evaluate(resource="test", action="payout", context={"amount": 300_000, "hour": 10})
    lifecycle = open_lifecycle(domain="test", action="payout", amount=300_000,
                               policy_evaluation_id=evaluation.evaluation_id)
    return lifecycle, allow


def test_a_policy_edit_that_would_change_an_active_decision_opens_a_review(approved_payout, make_policy, super_admin,
                                                                          audit_log):
    lifecycle, _allow = approved_payout
    cap = make_policy(resource="test", action="payout", effect="deny", priority=10, name="cap payouts",
                      conditions=[{"field": "amount", "op": "gt", "value": 1_000_000}])
    assert not DecisionReview.objects.filter(decision_id=lifecycle.decision_id).exists()  # 3,000 is under the cap
    with transaction.atomic():
        policy_update(policy_id=cap.pk, actor=super_admin, change_reason="lower the cap",
                      conditions=[{"field": "amount", "op": "gt", "value": 100_000}])
    (review,) = DecisionReview.objects.filter(decision_id=lifecycle.decision_id)
    assert (review.review_type, review.policy_id, review.policy_version) == ("policy_change", cap.pk, 2)
    assert "allowed → denied" in review.review_reason
    assert (review.triggered_by, review.triggered_by_type) == (super_admin.pk, "human")
    lifecycle.refresh_from_db()
    assert lifecycle.state == "under_review"
    audit_log.assert_recorded("DECISION_REVIEW_OPENED", target_id=review.pk, after={"review_type": "policy_change"})


def test_a_new_active_policy_that_would_change_the_outcome_opens_a_review(approved_payout, make_policy):
    lifecycle, _allow = approved_payout
    make_policy(resource="test", action="*", effect="require_approval", priority=5, name="hold every test action")
    assert DecisionReview.objects.get(decision_id=lifecycle.decision_id).review_type == "policy_change"


def test_a_policy_edit_that_changes_no_outcome_opens_no_review(approved_payout, make_policy):
    lifecycle, allow = approved_payout
    policy_update(policy_id=allow.pk, reason="reworded, same rule")
    make_policy(resource="test", action="refund", effect="deny", name="refunds denied")  # another action
    draft = make_policy(resource="test", action="payout", effect="deny", priority=99, active=False)
    assert draft.active is False
    assert not DecisionReview.objects.filter(decision_id=lifecycle.decision_id).exists()


def test_decisions_no_longer_in_force_are_not_reviewed_on_a_policy_change(approved_payout, make_policy):
    from memory.services import lifecycle_transition

    lifecycle, _allow = approved_payout
    lifecycle_transition(decision_id=lifecycle.decision_id, to_state="revoked", triggered_by_type="system",
                         reason="done")
    make_policy(resource="test", action="payout", effect="deny", priority=10)
    assert not DecisionReview.objects.filter(decision_id=lifecycle.decision_id).exists()


# --- context changes ----------------------------------------------------------------------------------------------


def test_a_context_change_opens_a_review_of_each_decision_of_that_subject(open_lifecycle):
    import uuid

    agent = uuid.uuid4()
    mine = [open_lifecycle(subject_id=agent), open_lifecycle(subject_id=agent)]
    other = open_lifecycle(subject_id=uuid.uuid4())
    reviews = lifecycle_context_changed(subject_id=agent, reason="the agent was suspended")
    assert {r.decision_id for r in reviews} == {lc.decision_id for lc in mine}
    assert all(r.review_type == "context_change" for r in reviews)
    assert not DecisionReview.objects.filter(decision_id=other.decision_id).exists()


# --- deciding -----------------------------------------------------------------------------------------------------


@pytest.fixture
def under_review(open_lifecycle):
    lifecycle = open_lifecycle(domain="ads")
    review = review_open(decision_id=lifecycle.decision_id, review_type="periodic", reason="due",
                         triggered_by_type="time")
    return lifecycle, review


def test_renewed_makes_the_decision_active_again_with_a_next_review(under_review, memory_authority, audit_log):
    lifecycle, review = under_review
    result = review_decide(review_id=review.pk, user=memory_authority, outcome="renewed",
                           justification="Still right for this campaign.")
    assert (result.lifecycle.state, result.review.outcome, result.review.decided_by) == (
        "active", "renewed", memory_authority)
    assert result.lifecycle.next_review_at > timezone.now() + timedelta(days=80)
    last = _last_transition(lifecycle)
    assert (last.to_state, last.triggered_by, last.triggered_by_type) == ("active", memory_authority.pk, "human")
    audit_log.assert_recorded("DECISION_REVIEW_DECIDED", target_id=review.pk, after={"outcome": "renewed"})
    with pytest.raises(Conflict) as caught:
        review_decide(review_id=review.pk, user=memory_authority, outcome="revoked",
                      justification="Changed my mind about it.")
    assert caught.value.code == "review_already_decided"


def test_revoked_ends_the_decision(under_review, memory_authority):
    _lifecycle, review = under_review
    result = review_decide(review_id=review.pk, user=memory_authority, outcome="revoked",
                           justification="The campaign strategy changed.")
    assert result.lifecycle.state == "revoked"


def test_superseded_names_the_decision_that_replaces_it(under_review, memory_authority, open_lifecycle):
    _lifecycle, review = under_review
    with pytest.raises(InvalidInput):
        review_decide(review_id=review.pk, user=memory_authority, outcome="superseded",
                      justification="A newer decision covers this.")
    successor = open_lifecycle()
    result = review_decide(review_id=review.pk, user=memory_authority, outcome="superseded",
                           justification="A newer decision covers this.", superseded_by=successor.decision_id)
    assert (result.lifecycle.state, result.lifecycle.superseded_by_id) == ("superseded", successor.decision_id)


def test_pending_keeps_it_under_review_and_a_new_review_opens_at_the_given_time(under_review, memory_authority):
    lifecycle, review = under_review
    with pytest.raises(InvalidInput):
        review_decide(review_id=review.pk, user=memory_authority, outcome="pending",
                      justification="Waiting for the quarter's figures.")
    later = timezone.now() + timedelta(days=14)
    result = review_decide(review_id=review.pk, user=memory_authority, outcome="pending",
                           justification="Waiting for the quarter's figures.", next_review_at=later)
    assert (result.lifecycle.state, result.review.outcome, result.lifecycle.next_review_at) == (
        "under_review", "pending", later)
    assert memory_tick(now=later - timedelta(seconds=1)).reviews_opened == 0
    assert memory_tick(now=later + timedelta(seconds=1)).reviews_opened == 1
    assert DecisionReview.objects.open().get(decision_id=lifecycle.decision_id).review_type == "periodic"


def test_only_a_person_with_authority_decides_and_with_a_justification(under_review, make_user, grant):
    _lifecycle, review = under_review
    billing_only = make_user()
    grant(billing_only, scopes=["billing"])
    with pytest.raises(Forbidden):
        review_decide(review_id=review.pk, user=billing_only, outcome="renewed", justification="Looks fine to me.")
    ads_person = make_user()
    grant(ads_person, scopes=["ads"])
    with pytest.raises(InvalidInput):
        review_decide(review_id=review.pk, user=ads_person, outcome="renewed", justification="ok")
    assert list(reviews_due_for(user=ads_person)) == [review]
    assert list(reviews_due_for(user=billing_only)) == []
    review_decide(review_id=review.pk, user=ads_person, outcome="renewed", justification="Looks fine to me.")
    assert list(reviews_due_for(user=ads_person)) == []


def test_revoking_a_grant_in_review_revokes_the_authority(make_user, grant, super_admin):
    person = make_user()
    authority = grant(person, scopes=["billing"], max_impact="medium")
    review = review_open(decision_id=authority.pk, review_type="periodic", reason="yearly", triggered_by_type="time")
    with pytest.raises(Forbidden):  # nobody reviews their own authority
        review_decide(review_id=review.pk, user=person, outcome="renewed", justification="I still need it, surely.")
    result = review_decide(review_id=review.pk, user=super_admin, outcome="revoked",
                           justification="Moved to another team this month.")
    authority.refresh_from_db()
    assert authority.active is False and result.lifecycle.state == "revoked"
    review.refresh_from_db()
    assert (review.outcome, review.decided_by) == ("revoked", super_admin)


def test_revoking_an_authority_ends_its_lifecycle(make_user, grant, super_admin):
    from governance.services.authorities import authority_revoke
    from memory.models import DecisionLifecycle

    authority = grant(make_user(), scopes=["ads"])
    lifecycle = DecisionLifecycle.objects.get(decision_id=authority.pk)
    assert (lifecycle.decision_type, lifecycle.state, lifecycle.scopes) == ("authority_grant", "active", ["ads"])
    authority_revoke(authority_id=authority.pk, revoked_by=super_admin, reason="left the company")
    lifecycle.refresh_from_db()
    assert lifecycle.state == "revoked"
    assert _last_transition(lifecycle).triggered_by == super_admin.pk


def test_a_grant_with_an_expiry_expires_on_time(make_user, grant):
    from memory.models import DecisionLifecycle

    until = timezone.now() + timedelta(days=3)
    authority = grant(make_user(), scopes=["ads"], expires_at=until)
    lifecycle = DecisionLifecycle.objects.get(decision_id=authority.pk)
    assert (lifecycle.expiration_type, lifecycle.expires_at) == ("expires_at", until)
    assert lifecycles_expire(now=until + timedelta(seconds=1)) == 1
