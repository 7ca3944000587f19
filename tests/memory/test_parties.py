"""The people on whose behalf a decision acts (an approval request's parties, its tenant, the ``on_behalf_of`` its
domain recorded) are kept out of its institutional memory: they neither decide its reviews, record it as a precedent
nor settle its conflicts."""
from __future__ import annotations

import uuid

import pytest

from memory.models import DecisionConflict, DecisionPrecedent, DecisionReview
from memory.services import review_decide, review_open
from tests.governance.test_admin import staff_with_authority
from tests.governance.test_approval_parties import WHY, console_for, messages_of

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def owner_in_console(make_user, grant):
    """A staff member who owns a tenant (its agents' decisions act for them) and holds an authority over ads."""
    return staff_with_authority(make_user, grant, scopes=["ads", "test"], max_impact="critical")


def test_the_agents_owner_cannot_renew_a_review_of_their_agents_decision(owner_in_console, open_lifecycle,
                                                                          memory_authority):
    lifecycle = open_lifecycle(domain="ads", tenant_id=owner_in_console.pk, subject_id=uuid.uuid4())
    review = review_open(decision_id=lifecycle.decision_id, review_type="periodic", reason="due")
    console = console_for(owner_in_console)

    page = console.get(f"/admin/memory/decisionreview/{review.pk}/change/")
    assert page.context["decide_problem"] and b'value="renewed"' not in page.content
    listed = console.get("/admin/memory/decisionreview/?inbox=mine").context["cl"].result_list
    assert review.pk not in [r.pk for r in listed]
    posted = console.post(f"/admin/memory/decisionreview/{review.pk}/decide/",
                          {"outcome": "renewed", "justification": WHY}, follow=True)

    assert "on their behalf" in messages_of(posted)
    assert DecisionReview.objects.get(pk=review.pk).is_open
    review_decide(review_id=review.pk, user=memory_authority, outcome="renewed", justification=WHY)
    assert not DecisionReview.objects.get(pk=review.pk).is_open


def test_a_party_cannot_record_their_decision_as_a_precedent(owner_in_console, open_lifecycle, memory_authority):
    lifecycle = open_lifecycle(domain="ads", context={"on_behalf_of": [str(owner_in_console.pk)]})
    review = review_open(decision_id=lifecycle.decision_id, review_type="periodic", reason="due")
    review_decide(review_id=review.pk, user=memory_authority, outcome="renewed", justification=WHY)

    posted = console_for(owner_in_console).post(
        f"/admin/memory/decisionlifecycle/{lifecycle.pk}/precedent/",
        {"observed_result": '{"clicks": 120}', "note": "worked well"}, follow=True)

    assert "on their behalf" in messages_of(posted)
    assert not DecisionPrecedent.objects.filter(original_decision_id=lifecycle.decision_id).exists()


def test_a_party_cannot_settle_a_conflict_over_their_decision(owner_in_console, open_lifecycle):
    mine = open_lifecycle(action="resume_campaign", direction="resume", target_type="ad_campaign", target_id="c-9",
                          tenant_id=owner_in_console.pk)
    open_lifecycle(action="pause_campaign", direction="pause", target_type="ad_campaign", target_id="c-9")
    conflict = DecisionConflict.objects.get(decision_a_id=mine.decision_id)

    posted = console_for(owner_in_console).post(
        f"/admin/memory/decisionconflict/{conflict.pk}/resolve/",
        {"prevailing": str(mine.decision_id), "note": WHY, "supersede_other": "on"}, follow=True)

    assert "on their behalf" in messages_of(posted)
    conflict.refresh_from_db()
    assert conflict.state == "detected" and conflict.prevailing_id is None
