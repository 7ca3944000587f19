"""Audit event types of the billing app (loaded from ``BillingConfig.ready()``)."""
from audit.events import register

BILLING_ACCOUNT_OPENED = register("BILLING_ACCOUNT_OPENED", "A user's billing account was opened.")
LEDGER_ENTRY_POSTED = register("LEDGER_ENTRY_POSTED", "A ledger entry changed an account's balance.")
LEDGER_ADJUSTED = register("LEDGER_ADJUSTED", "A finance officer posted a manual ledger adjustment.")
REFUND_POSTED = register("REFUND_POSTED", "(Part of) a payment was refunded: the account was debited by a "
                                          "correction of the payment's credit.")
LEDGER_EXPORTED = register("LEDGER_EXPORTED", "Ledger entries were exported as CSV from the console.")
PAYMENT_INTENT_CREATED = register("PAYMENT_INTENT_CREATED", "A payment intent was created with the provider.")
PAYMENT_INTENT_CONFIRMED = register("PAYMENT_INTENT_CONFIRMED", "The provider confirmed a payment; the ledger "
                                                                "was credited.")
PAYMENT_INTENT_FAILED = register("PAYMENT_INTENT_FAILED", "The provider reported a failed payment attempt.")
PAYMENT_INTENT_DISPUTED = register("PAYMENT_INTENT_DISPUTED", "A payment was disputed; the ledger was debited.")
SUBSCRIPTION_CREATED = register("SUBSCRIPTION_CREATED", "A subscription was created.")
SUBSCRIPTION_CANCELED = register("SUBSCRIPTION_CANCELED", "A subscription was canceled.")
SUBSCRIPTION_STATUS_CHANGED = register("SUBSCRIPTION_STATUS_CHANGED", "A provider event changed a subscription's "
                                                                      "status.")
PAYOUT_REQUESTED = register("PAYOUT_REQUESTED", "A payout was requested; its amount is held.")
PAYOUT_APPROVED = register("PAYOUT_APPROVED", "A payout above the approval threshold was approved.")
PAYOUT_REJECTED = register("PAYOUT_REJECTED", "A payout was rejected; its hold was credited back.")
PAYOUT_SENT = register("PAYOUT_SENT", "A payout was sent to its destination.")
PAYOUT_FAILED = register("PAYOUT_FAILED", "A payout failed; its hold was credited back.")
BILLING_RECONCILED = register("BILLING_RECONCILED", "The reconcile job compared the ledger, balances and the "
                                                    "provider.")
BILLING_RECONCILE_DIFFERENCE = register("BILLING_RECONCILE_DIFFERENCE", "The reconcile job found a difference "
                                                                        "(reported, never fixed).")
