"""The ads app's error codes, each with its HTTP status (rendered in the one JSON error shape by the API layer).

Refusals of a spend (``REFUSALS``) are recorded as a ``failed`` spend event carrying the code. Every refusal is a
409 (the request is valid but the current state of the campaign, budget, tenant limits or balance does not allow
it), except the kill switches, which answer 423 like everywhere else in the project.
"""
from __future__ import annotations

from billing.errors import INSUFFICIENT_FUNDS
from core.errors import Conflict, NotFound
from infrastructure.errors import KillSwitchActive

KILL_SWITCH_ACTIVE = KillSwitchActive.code  # 423: the ads or all switch, billing's, or the tenant's own
CAMPAIGN_NOT_ACTIVE = "campaign_not_active"
BUDGET_EXHAUSTED = "budget_exhausted"
BUDGET_DISPUTED = "budget_disputed"
TENANT_DAILY_LIMIT = "tenant_daily_limit"
TENANT_CAMPAIGN_LIMIT = "tenant_campaign_limit"
AD_ACCOUNT_SUSPENDED = "ad_account_suspended"

# The reasons a valid spend can be refused; each becomes a failed spend event.
REFUSALS = frozenset({KILL_SWITCH_ACTIVE, CAMPAIGN_NOT_ACTIVE, BUDGET_EXHAUSTED, BUDGET_DISPUTED,
                      TENANT_DAILY_LIMIT, TENANT_CAMPAIGN_LIMIT, INSUFFICIENT_FUNDS, AD_ACCOUNT_SUSPENDED})

AD_ACCOUNT_NOT_FOUND = "ad_account_not_found"
BUDGET_NOT_FOUND = "budget_not_found"
CAMPAIGN_NOT_FOUND = "campaign_not_found"
CAMPAIGN_STATE = "campaign_state_conflict"
BUDGET_CLOSED = "budget_closed"
BUDGET_STATE = "budget_state_conflict"
AMOUNT_BELOW_SPENT = "amount_below_spent"
BUDGET_ACCOUNT_MISMATCH = "budget_account_mismatch"


class AdAccountNotFound(NotFound):
    code = AD_ACCOUNT_NOT_FOUND
    message = "Ad account not found."


class BudgetNotFound(NotFound):
    code = BUDGET_NOT_FOUND
    message = "Budget not found."


class CampaignNotFound(NotFound):
    code = CAMPAIGN_NOT_FOUND
    message = "Campaign not found."


class Refused(Conflict):
    """A valid request (a spend, an activation…) that the current state does not allow (409, ``code`` says why)."""
