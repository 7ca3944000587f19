"""Autonomy profiles and shadow executions."""
from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from audit.services import audit_record
from core.errors import InvalidInput
from governance import events
from governance.jsonvalues import json_ready
from governance.models import AutonomyProfile, ShadowExecution

PROFILE_FIELDS = ("base_level", "action_overrides", "max_daily_actions", "max_amount_per_action")


def _snapshot(profile: AutonomyProfile) -> dict[str, Any]:
    return {"agent_id": str(profile.agent_id), **{f: getattr(profile, f) for f in PROFILE_FIELDS}}


@transaction.atomic
def autonomy_profile_set(
    *,
    agent_id: uuid.UUID,
    base_level: int,
    action_overrides: dict[str, int] | None = None,
    max_daily_actions: int | None = None,
    max_amount_per_action: int | None = None,
    actor=None,
) -> AutonomyProfile:
    """Create or replace the agent's profile (one per agent). Levels: 0 forbidden, 1 shadow, 2 audited, 3 full."""
    try:
        agent_id = uuid.UUID(str(agent_id))
    except ValueError:
        raise InvalidInput(fields={"agent_id": [_("Not a valid UUID.")]}) from None
    values = {"base_level": base_level, "action_overrides": {} if action_overrides is None else action_overrides,
              "max_daily_actions": max_daily_actions, "max_amount_per_action": max_amount_per_action}
    profile = AutonomyProfile.objects.select_for_update().filter(agent_id=agent_id).first()
    created = profile is None
    if created:
        profile = AutonomyProfile(agent_id=agent_id)
        before = None
    else:
        before = _snapshot(profile)
    for key, value in values.items():
        setattr(profile, key, value)
    for key in ("base_level", "max_daily_actions", "max_amount_per_action"):
        value = getattr(profile, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidInput(fields={key: [_("A whole number is required.")]})
    try:
        profile.full_clean(validate_unique=False)
    except ValidationError as exc:
        raise InvalidInput(fields={k: [str(m) for m in v] for k, v in exc.message_dict.items()}) from None
    profile._history_user = actor
    try:
        with transaction.atomic():
            profile.save()
    except IntegrityError:
        # Another transaction created this agent's profile first: apply ours on top of it.
        return autonomy_profile_set(agent_id=agent_id, actor=actor, **values)
    audit_record(events.AUTONOMY_PROFILE_SET, action="create" if created else "update",
                 target_type="autonomy_profile", target_id=profile.pk, before=before, after=_snapshot(profile),
                 metadata={"agent_id": str(agent_id)}, actor_id=getattr(actor, "pk", None))
    return profile


@transaction.atomic
def shadow_record(
    *,
    agent_id: uuid.UUID,
    domain: str,
    action: str,
    intent: dict[str, Any],
    simulation: dict[str, Any],
    reason: str,
    decision_id: uuid.UUID | None = None,
) -> ShadowExecution:
    """Record what an agent in shadow mode intended and what the domain's simulation says would have happened.
    Nothing is executed, and a shadow execution is never an approval request."""
    problems = {}
    if not isinstance(domain, str) or not domain or len(domain) > 64:
        problems["domain"] = [_("A domain name of at most 64 characters is required.")]
    if not isinstance(action, str) or not action or len(action) > 64:
        problems["action"] = [_("An action name of at most 64 characters is required.")]
    if not isinstance(reason, str) or not reason.strip():
        problems["reason"] = [_("Say why it was not executed.")]
    for key, value in (("intent", intent), ("simulation", simulation)):
        if not isinstance(value, dict):
            problems[key] = [_("A JSON object is required.")]
    if problems:
        raise InvalidInput(fields=problems)
    shadow = ShadowExecution.objects.create(
        agent_id=agent_id, decision_id=decision_id, domain=domain, action=action,
        intent=json_ready(intent, field="intent"), simulation=json_ready(simulation, field="simulation"),
        reason=reason,
    )
    audit_record(events.SHADOW_EXECUTION_RECORDED, action="shadow", target_type="shadow_execution",
                 target_id=shadow.pk, after={"domain": domain, "action": action, "decision_id": decision_id},
                 reason=reason, actor_id=agent_id, actor_type="agent")
    return shadow
