"""Agents' decisions in institutional memory: lifecycles opened when a decision is approved or executed, conflicts
between decisions on one campaign, standing decisions that lapse when their effect is gone, reviews when the
agent is suspended, and the decision's timeline."""
from __future__ import annotations

import pytest

from agents.selectors import decision_get, decision_timeline
from memory.models import DecisionConflict, DecisionLifecycle, DecisionReview, LifecycleTransition
from memory.selectors import approval_memory, unresolved_conflicts
from memory.services import lifecycles_expire, verify_lifecycle_chains

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


@pytest.fixture
def ads_world(tenant, make_agent, make_ads, policy, proposer):
    policy("ads", "*")
    ads = make_ads(tenant)
    agent = make_agent(tenant, level=3, policies={"ads": {"allowed_actions": ["pause_campaign", "resume_campaign",
                                                                             "set_budget"]}})
    return proposer(tenant, agent), ads


def _propose(api, action, target, payload=None):
    response = api.propose("ads", action, target, payload or {})
    assert response.status_code == 201, response.json()
    return response.json()


def test_an_autonomous_execution_opens_a_lifecycle_with_its_facts(ads_world):
    api, ads = ads_world
    body = _propose(api, "pause_campaign", f"campaign:{ads.campaign.pk}")
    assert body["outcome"] == "executed"
    lifecycle = DecisionLifecycle.objects.get(decision_id=body["id"])
    assert (lifecycle.decision_type, lifecycle.state, lifecycle.domain, lifecycle.action) == (
        "approval", "active", "ads", "pause_campaign")
    assert (lifecycle.target_type, lifecycle.target_id, lifecycle.direction) == (
        "ad_campaign", str(ads.campaign.pk), "pause")
    assert (lifecycle.expiration_type, lifecycle.condition) == ("expires_on_condition", "agents.effect_in_place")
    assert lifecycle.subject_id == api.agent.pk and lifecycle.policy_evaluation_id is not None
    (opening,) = LifecycleTransition.objects.filter(decision_id=body["id"])
    assert opening.triggered_by_type == "system" and "autonomously" in opening.reason


def test_rejected_and_shadowed_decisions_have_no_lifecycle(tenant, make_agent, make_ads, policy, proposer):
    policy("ads", "*")
    ads = make_ads(tenant)
    shadow = proposer(tenant, make_agent(tenant, level=1, policies={"ads": {"allowed_actions": ["pause_campaign"]}}))
    assert _propose(shadow, "pause_campaign", f"campaign:{ads.campaign.pk}")["outcome"] == "shadowed"
    refused = proposer(tenant, make_agent(tenant, level=3, policies={"ads": {"allowed_actions": ["set_budget"]}}))
    assert _propose(refused, "pause_campaign", f"campaign:{ads.campaign.pk}")["outcome"] == "rejected"
    assert not DecisionLifecycle.objects.exists()


def test_pause_then_resume_is_a_conflict_until_the_pause_lapses(ads_world):
    api, ads = ads_world
    pause = _propose(api, "pause_campaign", f"campaign:{ads.campaign.pk}")
    resume = _propose(api, "resume_campaign", f"campaign:{ads.campaign.pk}")
    (conflict,) = unresolved_conflicts(target_type="ad_campaign", target_id=ads.campaign.pk)
    assert (conflict.conflict_type, str(conflict.decision_a_id), str(conflict.decision_b_id)) == (
        "direction", pause["id"], resume["id"])
    # The campaign runs again: the pause's effect is gone, so it lapses and the conflict dissolves.
    assert lifecycles_expire() == 1
    assert DecisionLifecycle.objects.get(decision_id=pause["id"]).state == "expired"
    assert DecisionLifecycle.objects.get(decision_id=resume["id"]).state == "active"
    conflict.refresh_from_db()
    assert conflict.state == "dissolved"
    assert verify_lifecycle_chains().ok


def test_raising_then_lowering_a_budget_is_a_direction_conflict(ads_world):
    api, ads = ads_world
    _propose(api, "set_budget", f"budget:{ads.budget.pk}", {"amount_total": 140_000})
    _propose(api, "set_budget", f"budget:{ads.budget.pk}", {"amount_total": 120_000})
    (conflict,) = DecisionConflict.objects.all()
    assert conflict.conflict_type == "direction" and "raise vs lower" in conflict.description
    assert lifecycles_expire() == 1  # the first total (140,000) is no longer the budget's


def test_an_approved_decision_opens_its_lifecycle_at_approval(tenant, make_agent, make_ads, policy, proposer,
                                                              approver, decide, run_jobs):
    policy("ads", "*")
    ads = make_ads(tenant)
    api = proposer(tenant, make_agent(tenant, level=3, policies={"ads": {"allowed_actions": ["pause_campaign"],
                                                                         "requires_approval": True}}))
    body = _propose(api, "pause_campaign", f"campaign:{ads.campaign.pk}")
    assert not DecisionLifecycle.objects.filter(decision_id=body["id"]).exists()  # waiting: not yet a decision
    decide(approver, body["approval_request_id"])
    run_jobs("governance.approval_callback")
    lifecycle = DecisionLifecycle.objects.get(decision_id=body["id"])
    assert lifecycle.state == "active" and lifecycle.context["approved_by"] == str(approver.pk)
    (opening,) = LifecycleTransition.objects.filter(decision_id=body["id"])
    assert (opening.triggered_by, opening.triggered_by_type) == (approver.pk, "human")


def test_an_approved_decision_the_domain_refuses_is_revoked(tenant, make_agent, make_ads, policy, proposer, approver,
                                                           decide, run_jobs, halt):
    policy("ads", "*")
    ads = make_ads(tenant)
    api = proposer(tenant, make_agent(tenant, level=3, policies={"ads": {"allowed_actions": ["pause_campaign"],
                                                                         "requires_approval": True}}))
    body = _propose(api, "pause_campaign", f"campaign:{ads.campaign.pk}")
    halt("ads")
    decide(approver, body["approval_request_id"])
    run_jobs()
    assert api.get(body["id"]).json()["outcome"] == "rejected"
    transitions = list(LifecycleTransition.objects.filter(decision_id=body["id"]).order_by("sequence")
                       .values_list("to_state", "triggered_by_type"))
    assert transitions == [("active", "human"), ("revoked", "system")]


def test_the_approval_screen_shows_conflicts_on_the_requests_target(tenant, make_agent, make_ads, policy, proposer):
    policy("ads", "*")
    ads = make_ads(tenant)
    free = proposer(tenant, make_agent(tenant, level=3, policies={"ads": {"allowed_actions": ["pause_campaign",
                                                                                             "resume_campaign"]}}))
    _propose(free, "pause_campaign", f"campaign:{ads.campaign.pk}")
    _propose(free, "resume_campaign", f"campaign:{ads.campaign.pk}")
    held = proposer(tenant, make_agent(tenant, level=3, policies={"ads": {"allowed_actions": ["pause_campaign"],
                                                                         "requires_approval": True}}))
    body = _propose(held, "pause_campaign", f"campaign:{ads.campaign.pk}")
    request = decision_get(decision_id=body["id"]).approval_request
    memory = approval_memory(request=request)
    assert [c.conflict_type for c in memory["conflicts"]] == ["direction"]


def test_suspending_an_agent_puts_its_decisions_under_review(ads_world):
    from agents.services.agents import agent_update

    api, ads = ads_world
    body = _propose(api, "pause_campaign", f"campaign:{ads.campaign.pk}")
    agent_update(agent_id=api.agent.pk, status="suspended", reason="odd behaviour")
    (review,) = DecisionReview.objects.filter(decision_id=body["id"])
    assert review.review_type == "context_change" and "suspended" in review.review_reason
    assert DecisionLifecycle.objects.get(decision_id=body["id"]).state == "under_review"


def test_the_timeline_includes_transitions_conflicts_and_reviews(ads_world):
    from memory.services import review_open

    api, ads = ads_world
    pause = _propose(api, "pause_campaign", f"campaign:{ads.campaign.pk}")
    _propose(api, "resume_campaign", f"campaign:{ads.campaign.pk}")
    review_open(decision_id=pause["id"], review_type="context_change", reason="the campaign was resumed")
    kinds = [e.kind for e in decision_timeline(decision=decision_get(decision_id=pause["id"]))]
    assert kinds[0] == "proposal"
    for kind in ("transition", "conflict", "review", "execution"):
        assert kind in kinds
    titles = [e.title for e in decision_timeline(decision=decision_get(decision_id=pause["id"]))]
    assert "lifecycle: ∅ → active" in titles and "lifecycle: active → under_review" in titles
