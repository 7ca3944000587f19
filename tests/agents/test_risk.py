"""Risk: named factors weighted into a score, per-app weights and thresholds, the periodic recomputation."""
from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.utils import timezone

from agents.models import RiskHistory, RiskScore
from agents.services.risk import (
    DECISION_FACTORS,
    risk_combine,
    risk_config_set,
    risk_level,
    risk_scores_recompute,
)

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]

THRESHOLDS = {"medium": 0.3, "high": 0.6, "critical": 0.85}


@pytest.fixture
def world(tenant, make_agent, make_ads, policy, proposer):
    policy()
    ads = make_ads(tenant)
    agent = make_agent(tenant, level=3, policies={"ads": {"allowed_actions": ["set_budget", "pause_campaign"],
                                                          "max_amount": 200_000}})
    return proposer(tenant, agent), ads


def test_the_stored_factors_are_the_ones_that_produced_the_score(world):
    api, ads = world
    body = api.propose("ads", "set_budget", f"budget:{ads.budget.pk}", {"amount_total": 150_000}).json()
    factors = {f["name"]: f for f in body["risk_factors"]}
    assert set(factors) == set(DECISION_FACTORS)
    assert math.isclose(sum(f["contribution"] for f in factors.values()), body["risk_score"], abs_tol=1e-12)
    total = sum(f["weight"] for f in factors.values())
    for factor in factors.values():
        assert math.isclose(factor["contribution"], factor["weight"] * factor["value"] / total)
    assert factors["amount_vs_limit"]["value"] == 0.75  # 150,000 of the agent's 200,000
    assert factors["new_target"]["value"] == 1.0
    assert body["risk_level"] == risk_level(body["risk_score"], THRESHOLDS)
    second = api.propose("ads", "pause_campaign", f"campaign:{ads.campaign.pk}").json()
    assert {f["name"]: f["value"] for f in second["risk_factors"]}["amount_vs_limit"] == 0.0


def test_the_same_target_again_is_not_new(world):
    api, ads = world
    target = f"campaign:{ads.campaign.pk}"
    first = {f["name"]: f["value"] for f in api.propose("ads", "pause_campaign", target).json()["risk_factors"]}
    again = {f["name"]: f["value"] for f in api.propose("ads", "pause_campaign", target).json()["risk_factors"]}
    assert (first["new_target"], again["new_target"]) == (1.0, 0.0)
    assert again["velocity"] > first["velocity"]


def test_rejections_raise_the_rejection_rate(world, tenant, make_agent, proposer):
    _api, ads = world
    api = proposer(tenant, make_agent(tenant, level=3, policies={"ads": {"allowed_actions": ["pause_campaign"],
                                                                         "max_amount": 1}}))
    for _ in range(4):
        api.propose("ads", "set_budget", f"budget:{ads.budget.pk}", {"amount_total": 500})  # not allowed
    body = api.propose("ads", "pause_campaign", f"campaign:{ads.campaign.pk}").json()
    rate = next(f for f in body["risk_factors"] if f["name"] == "rejection_rate")
    assert rate["value"] == 4 / 10 and "4 rejected of 4 proposals" in rate["detail"]


def test_an_apps_weights_and_thresholds_override_the_defaults(world, tenant):
    api, ads = world
    risk_config_set(app_id=tenant.app.pk, custom_weights={"amount_vs_limit": 1, "rejection_rate": 0, "velocity": 0,
                                                          "new_target": 0, "time_of_day": 0, "dispute_history": 0},
                    thresholds={"medium": 0.2, "high": 0.5, "critical": 0.7})
    body = api.propose("ads", "set_budget", f"budget:{ads.budget.pk}", {"amount_total": 150_000}).json()
    assert [f["name"] for f in body["risk_factors"]] == ["amount_vs_limit"]
    assert body["risk_score"] == 0.75 and body["risk_level"] == "critical"


def test_disputes_count(world, tenant):
    from ads.services import budget_dispute

    api, ads = world
    budget_dispute(budget_id=ads.budget.pk, reason="chargeback from the publisher")
    body = api.propose("ads", "pause_campaign", f"campaign:{ads.campaign.pk}").json()
    disputes = next(f for f in body["risk_factors"] if f["name"] == "dispute_history")
    assert disputes["value"] == pytest.approx(1 / 3)


def test_combine_clamps_and_levels():
    assessment = risk_combine({"a": (2.0, "over"), "b": (-1.0, "under"), "c": (0.5, "half")},
                              {"a": 1, "b": 1, "c": 0}, THRESHOLDS)
    assert [f.name for f in assessment.factors] == ["a", "b"]
    assert assessment.score == 0.5 and assessment.level == "medium"
    assert risk_level(0.0, THRESHOLDS) == "low" and risk_level(0.85, THRESHOLDS) == "critical"


@pytest.mark.parametrize(("weights", "thresholds", "field"), [
    ({"mood": 1}, {}, "custom_weights"),
    ({"velocity": -1}, {}, "custom_weights"),
    ({"velocity": True}, {}, "custom_weights"),
    (dict.fromkeys(DECISION_FACTORS, 0), {}, "custom_weights"),
    ({}, {"medium": 0.7, "high": 0.6}, "thresholds"),
    ({}, {"critical": 2}, "thresholds"),
    ({}, {"velocity_per_hour": 0}, "thresholds"),
    ({}, {"panic": 0.1}, "thresholds"),
])
def test_invalid_configurations_are_refused(tenant, weights, thresholds, field):
    from core.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        risk_config_set(app_id=tenant.app.pk, custom_weights=weights, thresholds=thresholds)
    assert field in caught.value.fields


def test_the_scheduled_job_recomputes_app_and_agent_scores_and_appends_history(world, tenant, run_jobs, halt):
    from agents.tasks import risk_recompute

    api, ads = world
    api.propose("ads", "pause_campaign", f"campaign:{ads.campaign.pk}")
    halt("agents")
    api.propose("ads", "pause_campaign", f"campaign:{ads.campaign.pk}")  # rejected
    assert risk_recompute() is True
    assert risk_recompute() is False  # one waiting job at a time
    assert run_jobs("agents_risk_recompute") == 1
    app_score = RiskScore.objects.get(app=tenant.app, agent__isnull=True)
    agent_score = RiskScore.objects.get(app=tenant.app, agent=api.agent)
    names = {f["name"] for f in app_score.factors}
    assert names == {"decision_risk", "rejection_rate", "velocity", "dispute_history"}
    assert math.isclose(sum(f["contribution"] for f in app_score.factors), app_score.score)
    rate = next(f for f in agent_score.factors if f["name"] == "rejection_rate")
    assert rate["value"] == 1 / 10
    assert RiskHistory.objects.filter(app=tenant.app).count() == 2
    # Later, idle: the scores are recomputed from nothing and the history grows.
    risk_scores_recompute(now=timezone.now() + timedelta(days=8))
    assert RiskHistory.objects.filter(app=tenant.app).count() == 4
    app_score.refresh_from_db()
    assert app_score.score == 0.0 and app_score.level == "low"


def test_risk_history_is_append_only(world, tenant):
    from django.db import IntegrityError, connection, transaction

    api, ads = world
    api.propose("ads", "pause_campaign", f"campaign:{ads.campaign.pk}")
    risk_scores_recompute()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE risk_history SET score = 0.99")
