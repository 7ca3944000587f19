"""Autonomy profiles, the effective level selector, and shadow executions."""
import uuid

import pytest

from audit.models import AuditEvent
from audit.services import audit_sequence
from core.errors import InvalidInput
from governance.models import ApprovalRequest, AutonomyProfile, ShadowExecution
from governance.selectors import approvals_decidable_by, autonomy_level, autonomy_resolve
from governance.services.autonomy import autonomy_profile_set, shadow_record

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


@pytest.fixture
def agent_id():
    return uuid.uuid4()


LEVELS = [
    # (base, overrides, action, expected level, source)
    (2, {}, "pause_campaign", 2, "base"),
    (2, {"payout": 0}, "payout", 0, "override"),
    (1, {"pause_campaign": 3}, "pause_campaign", 3, "override"),
    (1, {"pause_campaign": 3}, "set_budget", 1, "base"),
    (3, {"refund": 1}, "refund", 1, "override"),
]


@pytest.mark.parametrize(("base", "overrides", "action", "level", "source"), LEVELS)
def test_the_effective_level_is_the_override_else_the_base(agent_id, base, overrides, action, level, source):
    autonomy_profile_set(agent_id=agent_id, base_level=base, action_overrides=overrides)
    assert autonomy_level(agent_id=agent_id, action=action) == level
    assert autonomy_resolve(agent_id=agent_id, action=action).source == source


def test_an_agent_without_a_profile_gets_the_default_level(agent_id, settings):
    assert autonomy_level(agent_id=agent_id, action="payout") == 0
    settings.AUTONOMY_DEFAULT_LEVEL = 1
    resolved = autonomy_resolve(agent_id=agent_id, action="payout")
    assert (resolved.level, resolved.source, resolved.profile_id) == (1, "default", None)


def test_one_profile_per_agent_replaced_in_place_and_audited(agent_id):
    first = autonomy_profile_set(agent_id=agent_id, base_level=1, max_daily_actions=10)
    second = autonomy_profile_set(agent_id=agent_id, base_level=3, max_amount_per_action=50_000)
    assert first.pk == second.pk and AutonomyProfile.objects.count() == 1
    resolved = autonomy_resolve(agent_id=agent_id, action="x")
    assert (resolved.level, resolved.max_daily_actions, resolved.max_amount_per_action) == (3, None, 50_000)
    assert second.history.count() == 2
    audit_sequence()
    events = AuditEvent.objects.filter(type="AUTONOMY_PROFILE_SET").order_by("sequence")
    assert [e.action for e in events] == ["create", "update"]
    assert events[1].before["base_level"] == 1 and events[1].after["base_level"] == 3


INVALID = [
    ({"base_level": 4}, "base_level"),
    ({"base_level": "3"}, "base_level"),
    ({"base_level": 2, "action_overrides": {"payout": 7}}, "action_overrides"),
    ({"base_level": 2, "action_overrides": {"payout": True}}, "action_overrides"),
    ({"base_level": 2, "action_overrides": {"Bad Action": 1}}, "action_overrides"),
    ({"base_level": 2, "action_overrides": ["payout"]}, "action_overrides"),
    ({"base_level": 2, "max_daily_actions": -1}, "max_daily_actions"),
    ({"base_level": 2, "max_amount_per_action": 1.5}, "max_amount_per_action"),
]


@pytest.mark.parametrize(("values", "field"), INVALID)
def test_invalid_profiles_are_refused(agent_id, values, field):
    with pytest.raises(InvalidInput) as err:
        autonomy_profile_set(agent_id=agent_id, **values)
    assert field in err.value.fields
    assert not AutonomyProfile.objects.exists()


def test_shadow_execution_records_intent_and_simulation_and_never_asks_for_approval(agent_id, make_user, grant):
    approver = make_user()
    grant(approver, scopes=["*"], max_impact="critical")
    shadow = shadow_record(agent_id=agent_id, domain="ads", action="pause_campaign",
                           intent={"campaign_id": str(uuid.uuid4()), "amount": 0},
                           simulation={"status_before": "active", "status_after": "paused"},
                           reason="Autonomy level 1 (shadow): simulated only.")
    assert ShadowExecution.objects.get(pk=shadow.pk).simulation["status_after"] == "paused"
    assert not ApprovalRequest.objects.exists()
    assert list(approvals_decidable_by(user=approver)) == []
    audit_sequence()
    event = AuditEvent.objects.get(type="SHADOW_EXECUTION_RECORDED")
    assert event.actor_id == agent_id and event.actor_type == "agent"


@pytest.mark.parametrize(("field", "value"), [("domain", ""), ("reason", " "), ("intent", "x"), ("simulation", None)])
def test_shadow_record_refuses_bad_input(agent_id, field, value):
    values = {"domain": "ads", "action": "pause", "intent": {}, "simulation": {}, "reason": "shadow"}
    with pytest.raises(InvalidInput) as err:
        shadow_record(agent_id=agent_id, **{**values, field: value})
    assert field in err.value.fields
