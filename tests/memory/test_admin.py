"""The console's institutional memory: pages render, the review inbox decides through the service, the conflict
list acknowledges / dissolves / resolves, precedents are recorded and change state, the approval page shows them."""
import pytest

from memory.models import DecisionConflict, DecisionPrecedent, DecisionReview
from memory.services import review_decide, review_open
from tests.clients import Client
from tests.governance.test_admin import staff_with_authority

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]
WHY = "Reviewed the evidence in the console."


@pytest.fixture
def person(make_user, grant):
    user = staff_with_authority(make_user, grant, scopes=["ads", "test"], max_impact="critical")
    client = Client()
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def conflict(open_lifecycle):
    open_lifecycle(action="pause_campaign", direction="pause", target_type="ad_campaign", target_id="c-7")
    resume = open_lifecycle(action="resume_campaign", direction="resume", target_type="ad_campaign", target_id="c-7")
    return DecisionConflict.objects.get(decision_b_id=resume.decision_id)


def _messages(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def test_every_memory_page_renders(person, conflict, open_lifecycle):
    lifecycle = conflict.decision_a
    review = review_open(decision_id=lifecycle.decision_id, review_type="periodic", reason="due")
    for url in ["/admin/memory/decisionlifecycle/", f"/admin/memory/decisionlifecycle/{lifecycle.pk}/change/",
                "/admin/memory/lifecycletransition/", "/admin/memory/decisionreview/",
                "/admin/memory/decisionreview/?inbox=mine", f"/admin/memory/decisionreview/{review.pk}/change/",
                "/admin/memory/decisionconflict/?open=yes",
                f"/admin/memory/decisionconflict/{conflict.pk}/change/", "/admin/memory/decisionprecedent/"]:
        assert person.get(url).status_code == 200, url
    page = person.get(f"/admin/memory/decisionlifecycle/{lifecycle.pk}/change/")
    assert "lifecycle: ∅ → active" in page.content.decode() and "direction conflict" in page.content.decode()
    for url in ["/admin/memory/decisionlifecycle/add/", "/admin/memory/lifecycletransition/add/",
                "/admin/memory/decisionreview/add/", "/admin/memory/decisionconflict/add/"]:
        assert person.get(url).status_code == 403, url


def test_the_review_inbox_lists_mine_and_decides_through_the_service(person, open_lifecycle, make_user, grant):
    mine = open_lifecycle(domain="ads")
    theirs = open_lifecycle(domain="billing")
    review = review_open(decision_id=mine.decision_id, review_type="periodic", reason="due")
    review_open(decision_id=theirs.decision_id, review_type="periodic", reason="due")
    listed = person.get("/admin/memory/decisionreview/?inbox=mine").context["cl"].result_list
    assert [r.pk for r in listed] == [review.pk]
    page = person.get(f"/admin/memory/decisionreview/{review.pk}/change/")
    assert b'value="renewed"' in page.content and page.context["decide_problem"] is None
    short = person.post(f"/admin/memory/decisionreview/{review.pk}/decide/",
                        {"outcome": "renewed", "justification": "ok"}, follow=True)
    assert "at least 10 characters" in _messages(short)
    done = person.post(f"/admin/memory/decisionreview/{review.pk}/decide/",
                       {"outcome": "revoked", "justification": WHY}, follow=True)
    assert "the decision is revoked" in _messages(done)
    review.refresh_from_db()
    assert (review.outcome, review.decided_by_id) == ("revoked", person.user.pk)


def test_a_person_without_authority_sees_why_and_cannot_decide(open_lifecycle, make_user, grant):
    outsider = staff_with_authority(make_user, grant, scopes=["billing"], max_impact="critical")
    client = Client()
    client.force_login(outsider)
    review = review_open(decision_id=open_lifecycle(domain="ads").decision_id, review_type="periodic", reason="due")
    page = client.get(f"/admin/memory/decisionreview/{review.pk}/change/")
    assert page.context["decide_problem"] and b'value="renewed"' not in page.content
    client.post(f"/admin/memory/decisionreview/{review.pk}/decide/", {"outcome": "renewed", "justification": WHY})
    assert DecisionReview.objects.get(pk=review.pk).is_open


def test_the_conflict_list_acknowledges_and_dissolves(person, conflict):
    url = "/admin/memory/decisionconflict/"
    person.post(url, {"action": "acknowledge", "_selected_action": [conflict.pk]})
    conflict.refresh_from_db()
    assert conflict.state == "acknowledged"
    form = person.post(url, {"action": "dissolve", "_selected_action": [conflict.pk]})
    assert form.status_code == 200 and b'name="note"' in form.content
    person.post(url, {"action": "dissolve", "_selected_action": [conflict.pk], "apply": "1",
                      "note": "Planned maintenance window, not a conflict."})
    conflict.refresh_from_db()
    assert conflict.state == "dissolved"


def test_a_conflict_is_resolved_on_its_page(person, conflict):
    response = person.post(f"/admin/memory/decisionconflict/{conflict.pk}/resolve/",
                           {"prevailing": str(conflict.decision_b_id), "note": WHY, "supersede_other": "on"},
                           follow=True)
    assert "Conflict resolved." in _messages(response)
    conflict.refresh_from_db()
    assert (conflict.state, conflict.prevailing_id, conflict.resolved_by_id) == (
        "resolved", conflict.decision_b_id, person.user.pk)
    conflict.decision_a.refresh_from_db()
    assert conflict.decision_a.state == "superseded"


def test_a_review_is_opened_and_a_precedent_recorded_from_a_lifecycle(person, open_lifecycle):
    lifecycle = open_lifecycle(domain="ads")
    base = f"/admin/memory/decisionlifecycle/{lifecycle.pk}"
    refused = person.post(f"{base}/precedent/", {"observed_result": '{"clicks": 120}'}, follow=True)
    assert "Only a reviewed decision" in _messages(refused)
    person.post(f"{base}/review/", {"reason": "the campaign changed owner"})
    review = DecisionReview.objects.get(decision_id=lifecycle.decision_id)
    assert (review.review_type, review.triggered_by, review.triggered_by_type) == (
        "context_change", person.user.pk, "human")
    review_decide(review_id=review.pk, user=person.user, outcome="renewed", justification=WHY)
    person.post(f"{base}/precedent/", {"observed_result": '{"clicks": 120}', "note": "good outcome"})
    precedent = DecisionPrecedent.objects.get(original_decision_id=lifecycle.decision_id)
    assert precedent.observed_result == '{"clicks":120}'
    person.post("/admin/memory/decisionprecedent/", {"action": "contest", "_selected_action": [precedent.pk],
                                                         "apply": "1", "reason": "numbers disputed"})
    precedent.refresh_from_db()
    assert precedent.state == "contested"


def test_the_verify_link_checks_the_chains(person, open_lifecycle):
    open_lifecycle()
    response = person.get("/admin/memory/lifecycletransition/verify/", follow=True)
    assert "every chain intact" in _messages(response)


def test_the_approval_page_shows_precedents_and_conflicts(person, conflict, request_factory, test_domain):
    request = request_factory(target_type="ad_campaign", target_id="c-7")
    page = person.get(f"/admin/governance/approvalrequest/{request.pk}/change/")
    assert page.context["memory"]["conflicts"] == [conflict]
    assert b"approval-memory" in page.content and b"approval-no-precedents" in page.content


def test_links_to_the_pages_memory_had_under_governance_land_on_the_same_pages(person, conflict):
    response = person.get(f"/admin/governance/decisionconflict/{conflict.pk}/change/?from=mail")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/memory/decisionconflict/{conflict.pk}/change/?from=mail"
    assert person.get(response["Location"]).status_code == 200
    assert person.get("/admin/governance/decisionauthority/").status_code == 200  # governance's own pages stay
