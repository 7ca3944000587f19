"""The ads services: every write of the ads app goes through one of these (see each module).

Lock order and the spend's rules are described in ``ads.services.common`` and ``ads.services.spend``.
"""
from ads.services.accounts import ad_account_create, ad_account_set_status
from ads.services.budgets import (
    ROLLOVER_JOB,
    budget_create,
    budget_dispute,
    budget_dispute_resolve,
    budget_rollover,
    budget_set_amount,
    budgets_rollover_due,
)
from ads.services.campaigns import (
    campaign_activate,
    campaign_complete,
    campaign_create,
    campaign_pause,
    campaign_resume,
)
from ads.services.limits import (
    UNCHANGED,
    ad_limits_kill_switch_activate,
    ad_limits_kill_switch_deactivate,
    ad_limits_set,
)
from ads.services.spend import SpendOutcome, campaign_spend

__all__ = [
    "ROLLOVER_JOB",
    "UNCHANGED",
    "SpendOutcome",
    "ad_account_create",
    "ad_account_set_status",
    "ad_limits_kill_switch_activate",
    "ad_limits_kill_switch_deactivate",
    "ad_limits_set",
    "budget_create",
    "budget_dispute",
    "budget_dispute_resolve",
    "budget_rollover",
    "budget_set_amount",
    "budgets_rollover_due",
    "campaign_activate",
    "campaign_complete",
    "campaign_create",
    "campaign_pause",
    "campaign_resume",
    "campaign_spend",
]
