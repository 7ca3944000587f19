"""Catalog domain Billing, plus the idempotency store that every money-moving endpoint uses."""
from billing.models.accounts import MAX_AMOUNT, MAX_BALANCE, BillingAccount, LedgerEntry, TenantFunds
from billing.models.idempotency import IdempotencyKey
from billing.models.payments import PaymentIntent, ProcessedWebhook, Provider
from billing.models.payouts import Payout
from billing.models.subscriptions import Subscription

__all__ = [
    "MAX_AMOUNT",
    "MAX_BALANCE",
    "BillingAccount",
    "IdempotencyKey",
    "LedgerEntry",
    "PaymentIntent",
    "Payout",
    "ProcessedWebhook",
    "Provider",
    "Subscription",
    "TenantFunds",
]
