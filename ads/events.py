"""Audit event types of the ads app (loaded from ``AdsConfig.ready()``)."""
from audit.events import register

AD_ACCOUNT_CREATED = register("AD_ACCOUNT_CREATED", "An ad account was opened on a user's billing account.")
AD_ACCOUNT_STATUS_CHANGED = register("AD_ACCOUNT_STATUS_CHANGED", "An ad account was suspended or reactivated.")
AD_BUDGET_CREATED = register("AD_BUDGET_CREATED", "An ad budget was created.")
AD_BUDGET_AMOUNT_CHANGED = register("AD_BUDGET_AMOUNT_CHANGED", "An ad budget's total was raised or lowered.")
AD_BUDGET_EXHAUSTED = register("AD_BUDGET_EXHAUSTED", "An ad budget reached its total; its campaigns stopped.")
AD_BUDGET_REOPENED = register("AD_BUDGET_REOPENED", "An exhausted ad budget was raised above what it spent.")
AD_BUDGET_PERIOD_OPENED = register("AD_BUDGET_PERIOD_OPENED", "A daily or monthly ad budget opened its next "
                                                              "period (a new budget row).")
AD_BUDGET_DISPUTED = register("AD_BUDGET_DISPUTED", "An ad budget was marked disputed: its spending stops.")
AD_BUDGET_DISPUTE_RESOLVED = register("AD_BUDGET_DISPUTE_RESOLVED", "An ad budget's dispute was resolved.")
AD_CAMPAIGN_CREATED = register("AD_CAMPAIGN_CREATED", "An ad campaign was created (draft).")
AD_CAMPAIGN_ACTIVATED = register("AD_CAMPAIGN_ACTIVATED", "An ad campaign was activated or resumed.")
AD_CAMPAIGN_PAUSED = register("AD_CAMPAIGN_PAUSED", "An ad campaign was paused (by someone, or by its budget).")
AD_CAMPAIGN_COMPLETED = register("AD_CAMPAIGN_COMPLETED", "An ad campaign was completed (final).")
AD_SPEND_APPLIED = register("AD_SPEND_APPLIED", "An ad spend debited the ledger and its budget.")
AD_SPEND_REFUSED = register("AD_SPEND_REFUSED", "An ad spend was refused; only its failed event was written.")
AD_LIMITS_CHANGED = register("AD_LIMITS_CHANGED", "A tenant's ad spending limits were changed.")
AD_TENANT_KILL_SWITCH_ACTIVATED = register("AD_TENANT_KILL_SWITCH_ACTIVATED", "A tenant's ads kill switch was "
                                                                              "activated.")
AD_TENANT_KILL_SWITCH_DEACTIVATED = register("AD_TENANT_KILL_SWITCH_DEACTIVATED", "A tenant's ads kill switch was "
                                                                                  "lifted.")
