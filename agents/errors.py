"""Error codes of the agents app (HTTP errors) and the reason codes of the decision pipeline.

Errors are raised before anything is recorded (bad input, unknown or foreign ids). Reasons are what each stage of
the pipeline decided; they are stored on the decision and answered with it (201), whatever the outcome.
"""
from __future__ import annotations

from core.errors import NotFound

# --- HTTP errors ----------------------------------------------------------------------------------------------------
AGENT_NOT_FOUND = "agent_not_found"
DECISION_NOT_FOUND = "decision_not_found"
SUGGESTION_NOT_FOUND = "suggestion_not_found"
POLICY_NOT_FOUND = "agent_policy_not_found"
UNKNOWN_ACTION = "unknown_action"
INVALID_TARGET = "invalid_target"
TARGET_NOT_FOUND = "target_not_found"
AGENT_NAME_TAKEN = "agent_name_taken"
NOT_AN_OBSERVER = "agent_not_observer"
OBSERVER_SUSPENDED = "agent_suspended"
SUGGESTION_DECIDED = "suggestion_already_decided"


class AgentNotFound(NotFound):
    code = AGENT_NOT_FOUND
    message = "Agent not found."


class DecisionNotFound(NotFound):
    code = DECISION_NOT_FOUND
    message = "Decision not found."


class SuggestionNotFound(NotFound):
    code = SUGGESTION_NOT_FOUND
    message = "Suggestion not found."


# --- pipeline stages and reason codes ------------------------------------------------------------------------------
STAGE_KILL_SWITCH = "kill_switch"
STAGE_AGENT = "agent"
STAGE_AGENT_POLICY = "agent_policy"
STAGE_RISK = "risk"
STAGE_POLICY = "policy"
STAGE_AUTONOMY = "autonomy"
STAGE_APPROVAL = "approval"
STAGE_EXECUTION = "execution"

KILL_SWITCHES_CLEAR = "kill_switches_clear"
KILL_SWITCH_ACTIVE = "kill_switch_active"
AGENT_ACTIVE = "agent_active"
AGENT_SUSPENDED = "agent_suspended"
AGENT_CANNOT_PROPOSE = "agent_cannot_propose"
APP_INACTIVE = "app_inactive"
NO_AGENT_POLICY = "no_agent_policy"
ACTION_NOT_ALLOWED = "action_not_allowed"
AMOUNT_OVER_MAX = "amount_over_max"
DAILY_LIMIT_REACHED = "daily_limit_reached"
WITHIN_AGENT_POLICY = "within_agent_policy"
RISK_OVER_MAX = "risk_over_max"
RISK_WITHIN_LIMIT = "risk_within_limit"
POLICY_ALLOWED = "policy_allowed"
POLICY_DENIED = "policy_denied"
POLICY_REQUIRES_APPROVAL = "policy_requires_approval"
AUTONOMY_FORBIDDEN = "autonomy_forbidden"
AUTONOMY_AMOUNT_LIMIT = "autonomy_amount_limit"
AUTONOMY_DAILY_LIMIT = "autonomy_daily_limit"
AUTONOMY_SHADOW = "autonomy_shadow"
AUTONOMY_AUDITED = "autonomy_audited"
AUTONOMY_FULL = "autonomy_full"
APPROVAL_REQUIRED = "approval_required"
APPROVAL_APPROVED = "approval_approved"
APPROVAL_REJECTED = "approval_rejected"
APPROVAL_EXPIRED = "approval_expired"
EXECUTED = "executed"
# An execution refused by the domain carries the domain's own code (insufficient_funds, campaign_state_conflict…).
