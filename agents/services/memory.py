"""Agents' decisions in institutional memory: each approved decision gets a lifecycle (the ``memory`` app), with the
facts conflict detection needs (target, direction, money reference) and, for standing decisions (pause, resume, a
budget total), an expiry condition: the decision lapses once its effect is no longer in place."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.translation import gettext as _

from agents.models import AgentDecision
from memory.models import DecisionLifecycle, DecisionType, TriggerType
from memory.services import (
    LifecycleSpec,
    lifecycle_context_changed,
    lifecycle_end_if_in_force,
    lifecycle_open,
    register_expiry_condition,
)

EFFECT_CONDITION = "agents.effect_in_place"
DIRECTIONS = {"pause_campaign": "pause", "resume_campaign": "resume", "credit": "credit", "refund": "debit",
              "payout": "debit", "record_spend": "debit"}
STANDING_ACTIONS = frozenset({"pause_campaign", "resume_campaign", "set_budget"})


def _direction(action: str, facts: dict[str, Any]) -> str:
    if action == "set_budget":
        delta = facts.get("delta")
        if isinstance(delta, int) and not isinstance(delta, bool) and delta:
            return "raise" if delta > 0 else "lower"
        return ""
    return DIRECTIONS.get(action, "")


def _reference(action: str, target_type: str, target_id: str, facts: dict[str, Any]) -> str:
    """The billing account whose money the decision moves (credit, payout: the target; refund: the entry's)."""
    if action in ("credit", "payout") and target_type == "billing_account":
        return f"billing_account:{target_id}"
    if action == "refund" and facts.get("account_id"):
        return f"billing_account:{facts['account_id']}"
    return ""


def decision_remember(decision: AgentDecision, *, target_type: str, target_id: str, facts: dict[str, Any] | None,
                      approved_by: Any = None, parties: list | None = None) -> DecisionLifecycle:
    """Open the decision's lifecycle (idempotent), inside the caller's transaction. ``parties``: the decision's
    ``decision_parties`` when the caller already has them."""
    facts = facts if isinstance(facts, dict) else {}
    action = decision.proposed_action
    return lifecycle_open(
        LifecycleSpec(
            decision_id=decision.pk, decision_type=DecisionType.APPROVAL, domain=decision.domain, action=action,
            condition=EFFECT_CONDITION if action in STANDING_ACTIONS else "", target_type=target_type,
            target_id=str(target_id), reference=_reference(action, target_type, str(target_id), facts),
            direction=_direction(action, facts), amount=decision.amount, subject_id=decision.agent_id,
            tenant_id=decision.tenant_id, policy_evaluation_id=decision.policy_evaluation_id,
            context={"agent_id": str(decision.agent_id), "target_entity": decision.target_entity,
                     "payload": decision.payload, "facts": facts, "risk_score": decision.risk_score,
                     "approved_by": str(approved_by.pk) if approved_by else None,
                     # Memory keeps them from reviewing, resolving or recording as a precedent their own decision.
                     "on_behalf_of": _party_ids(decision, target_type=target_type, target_id=target_id,
                                                parties=parties)}),
        triggered_by=approved_by.pk if approved_by else None,
        triggered_by_type=TriggerType.HUMAN if approved_by else TriggerType.SYSTEM,
        reason=(_("approved by %(who)s") % {"who": approved_by}) if approved_by
        else _("executed autonomously (autonomy level %(l)s)") % {"l": decision.autonomy_level})


def _party_ids(decision: AgentDecision, *, target_type: str, target_id: str, parties: list | None) -> list[str]:
    from agents.services.parties import decision_parties

    if parties is None:
        parties = decision_parties(agent=decision.agent, app_id=decision.app_id, target_type=target_type,
                                   target_id=target_id)
    return sorted({str(user_id) for user_id, _relation in parties})


def decision_forget_failed(decision: AgentDecision, *, code: str, message: str) -> None:
    """An approved decision whose execution the domain refused never took effect: its lifecycle is revoked."""
    lifecycle_end_if_in_force(decision_id=decision.pk, to_state="revoked",
                              reason=_("execution refused: %(c)s %(m)s") % {"c": code, "m": message})


def agent_context_changed(*, agent_id: Any, reason: str, actor: Any = None) -> None:
    """The agent behind decisions in force changed (suspended): each of them is put to a context-change review."""
    lifecycle_context_changed(subject_id=agent_id, reason=reason,
                              triggered_by=getattr(actor, "pk", None) if actor is not None else None,
                              triggered_by_type=TriggerType.HUMAN if getattr(actor, "pk", None)
                              else TriggerType.SYSTEM)


def effect_in_place(lifecycle: DecisionLifecycle, now: datetime) -> str | None:
    """The ``agents.effect_in_place`` expiry condition: why a standing decision's effect is gone, or None."""
    from ads.models import AdBudget, AdCampaign

    if lifecycle.action in ("pause_campaign", "resume_campaign"):
        status = AdCampaign.objects.filter(pk=lifecycle.target_id).values_list("status", flat=True).first()
        wanted = AdCampaign.Status.PAUSED if lifecycle.action == "pause_campaign" else AdCampaign.Status.ACTIVE
        if status is None:
            return _("the campaign no longer exists")
        if status != wanted:
            return _("the campaign is %(s)s now") % {"s": status}
        return None
    if lifecycle.action == "set_budget":
        total = AdBudget.objects.filter(pk=lifecycle.target_id).values_list("amount_total", flat=True).first()
        if total is None:
            return _("the budget no longer exists")
        if total != lifecycle.amount:
            return _("the budget total is %(t)d now, not %(a)d") % {"t": total, "a": lifecycle.amount}
    return None


def register() -> None:
    register_expiry_condition(EFFECT_CONDITION, effect_in_place)
