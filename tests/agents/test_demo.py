"""seed_demo's agents part: decisions of every outcome, a live approval inbox, suggestions; twice changes nothing."""
import io

import pytest
from django.apps import apps
from django.core.management import call_command

from agents import demo
from agents.models import Agent, AgentDecision, AgentMemory, RiskScore
from governance.models import ApprovalRequest, ShadowExecution

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def _counts() -> dict[str, int]:
    return {m._meta.label: m._default_manager.count() for m in apps.get_models()}


def test_the_demo_has_every_outcome_and_a_live_inbox_and_a_second_run_changes_nothing(tmp_path, monkeypatch):
    from identity import demo as identity_demo

    monkeypatch.setattr(identity_demo, "CREDENTIAL_FILE", tmp_path / "credential.json")
    call_command("seed_demo", stdout=io.StringIO())
    operator = Agent.objects.get(name=demo.OPERATOR)
    outcomes = sorted(AgentDecision.objects.filter(agent=operator).values_list("outcome", flat=True))
    assert outcomes == ["executed", "pending_approval", "rejected", "shadowed"]
    executor = Agent.objects.get(name=demo.EXECUTOR)
    assert set(AgentDecision.objects.filter(agent=executor).values_list("outcome", flat=True)) == {"pending_approval"}
    inbox = ApprovalRequest.objects.filter(callback="agents", status="pending")
    assert inbox.count() == 3 and {r.domain for r in inbox} == {"ads", "billing"}
    assert ShadowExecution.objects.filter(agent_id=operator.pk).count() == 1
    assert AgentMemory.objects.filter(agent_name=demo.OBSERVER).count() == len(demo.SUGGESTIONS)
    assert RiskScore.objects.filter(agent__isnull=True).exists()

    before = _counts()
    call_command("seed_demo", stdout=io.StringIO())
    after = _counts()
    assert {k: after[k] - before[k] for k in after if after[k] != before[k]} == {}
