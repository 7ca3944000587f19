"""Billing's error codes, each with its HTTP status (the API layer renders them in the one JSON error shape)."""
from __future__ import annotations

from core.errors import Conflict, InvalidInput, NotFound, ServiceError

INSUFFICIENT_FUNDS = "insufficient_funds"
BALANCE_LIMIT_EXCEEDED = "balance_limit_exceeded"
INVALID_AMOUNT = "invalid_amount"
ACCOUNT_NOT_FOUND = "account_not_found"
CURRENCY_MISMATCH = "currency_mismatch"
INVALID_CORRECTION = "invalid_correction"
SAME_ACCOUNT = "same_account"
IDEMPOTENCY_KEY_REQUIRED = "idempotency_key_required"
IDEMPOTENCY_KEY_INVALID = "idempotency_key_invalid"
IDEMPOTENCY_MISMATCH = "idempotency_mismatch"
IDEMPOTENCY_IN_PROGRESS = "idempotency_in_progress"
INVALID_SIGNATURE = "invalid_signature"
INVALID_EVENT = "invalid_event"
WEBHOOK_PROCESSING_FAILED = "webhook_processing_failed"
PROVIDER_ERROR = "payment_provider_error"
INVALID_DESTINATION = "invalid_destination"
PAYOUT_STATE = "payout_state_conflict"
SUBSCRIPTION_STATE = "subscription_state_conflict"
INTENT_STATE = "payment_intent_state_conflict"
PAYMENT_METHOD_REQUIRED = "payment_method_required"
ENTRY_NOT_REFUNDABLE = "entry_not_refundable"
LEDGER_ENTRY_NOT_FOUND = "ledger_entry_not_found"


class InsufficientFunds(Conflict):
    code = INSUFFICIENT_FUNDS
    message = "The account's balance is too low for this debit."


class InvalidAmount(InvalidInput):
    code = INVALID_AMOUNT


class AccountNotFound(NotFound):
    code = ACCOUNT_NOT_FOUND
    message = "Billing account not found."


class ProviderError(ServiceError):
    """The payment provider could not be reached or refused the call."""

    status = 502
    code = PROVIDER_ERROR
    message = "The payment provider could not complete the request."
