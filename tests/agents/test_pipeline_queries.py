"""The decision pipeline's cost does not grow with history: one autonomous proposal makes a fixed number of queries,
the same after many earlier decisions in force on the same campaign (conflict detection compares with the latest
opposing decision in force, one indexed lookup per kind)."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents.services.decisions import decision_propose
from memory.models import DecisionConflict, DecisionLifecycle

pytestmark = pytest.mark.django_db

# Queries of one executed pause and of one executed resume (level 3, ads service), savepoints included.
PROPOSAL_QUERIES = (41, 46)


@pytest.fixture
def campaign_agent(tenant, make_agent, make_ads, policy, settings):
    # The kill switches and the policy set are re-read on every proposal, as when their short caches are due: the
    # count does not depend on how fast the test runs.
    settings.KILLSWITCH_CACHE_SECONDS = 0
    settings.POLICY_CACHE_CHECK_MS = 0
    policy("ads", "*")
    ads = make_ads(tenant)
    agent = make_agent(tenant, level=3, policies={"ads": {"allowed_actions": ["pause_campaign", "resume_campaign"]}})
    return agent, ads


def _propose(agent, ads, action):
    decision = decision_propose(agent_id=agent.pk, tenant_id=agent.tenant_id, app_id=agent.app_id, domain="ads",
                                action=action, target_entity=f"campaign:{ads.campaign.pk}", payload={})
    assert decision.outcome == "executed", decision.reasons
    return decision


def _counted(agent, ads, action) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as queries:
        decision = _propose(agent, ads, action)
    return len(queries), decision


def test_a_proposal_makes_the_same_queries_after_many_earlier_decisions_on_its_target(campaign_agent):
    agent, ads = campaign_agent
    actions = ["pause_campaign", "resume_campaign"]
    for n in range(2):  # both directions already in force
        _propose(agent, ads, actions[n % 2])
    early, first = _counted(agent, ads, "pause_campaign")
    early_resume, _decision = _counted(agent, ads, "resume_campaign")
    for n in range(40):
        latest_resume = _propose(agent, ads, actions[n % 2])
    late, last = _counted(agent, ads, "pause_campaign")
    late_resume, _decision = _counted(agent, ads, "resume_campaign")
    assert DecisionLifecycle.objects.in_force().filter(target_id=str(ads.campaign.pk)).count() == 46
    assert (early, early_resume) == (late, late_resume) == PROPOSAL_QUERIES
    # Each pause conflicts with the latest resume in force only, the same late as early.
    assert DecisionConflict.objects.filter(decision_b_id=first.pk).count() == 1
    (conflict,) = DecisionConflict.objects.filter(decision_b_id=last.pk)
    assert (conflict.conflict_type, conflict.decision_a_id) == ("direction", latest_resume.pk)
