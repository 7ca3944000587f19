"""Billing executors: credit an account, refund a ledger entry, request a payout.

Each calls ``billing.services`` (the ledger's lock, overdraft refusal and ``billing`` kill switch apply at execution
time). The simulations read the same state and apply the same checks, without writing.
"""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Sum
from django.utils.translation import gettext as _

from agents.executors import (
    ExecutionContext,
    Prepared,
    PreparedAction,
    Target,
    payload_check,
    payload_text,
    register_executor,
    simulation_dict,
)
from billing import errors as billing_errors
from billing.destinations import destination_parse, mask
from billing.models import MAX_BALANCE, BillingAccount, LedgerEntry, Payout
from billing.selectors import account_get_for_tenant
from billing.services.ledger import CREDIT, ledger_post, ledger_refund, validate_amount
from billing.services.payouts import payout_approve, payout_request
from identity.selectors import user_in_tenant
from infrastructure.services.killswitches import killswitch_halted_scopes
from prostqs.errors import InvalidInput, NotFound

DOMAIN = "billing"
LEDGER_ENTRY_NOT_FOUND = "ledger_entry_not_found"


def _halted() -> dict[str, Any] | None:
    halted = killswitch_halted_scopes("billing")
    if not halted:
        return None
    switch = sorted(halted, key=lambda s: s.scope != "all")[0]
    return {"code": "kill_switch_active", "status": 423,
            "message": _("Halted by the %(scope)s kill switch: %(reason)s") % {"scope": switch.scope,
                                                                              "reason": switch.reason}}


def _account(tenant_id: Any, account_id: Any) -> BillingAccount:
    return account_get_for_tenant(tenant_id=tenant_id, account_id=account_id)


def _balance(account_id: Any) -> int:
    return BillingAccount.objects.values_list("balance", flat=True).get(pk=account_id)


# --- credit ---------------------------------------------------------------------------------------------------------


def _prepare_credit(*, tenant_id: Any, target: Target, payload: dict[str, Any]) -> Prepared:
    payload = payload_check(payload, required=("amount",), optional=("description",))
    amount = validate_amount(payload["amount"], field="payload.amount")
    description = payload_text(payload, "description")
    account = _account(tenant_id, target.id)
    return Prepared(payload={"amount": amount, **({"description": description} if description else {})},
                    amount=amount, target_type="billing_account", target_id=str(account.pk),
                    context={"balance": account.balance, "currency": account.currency})


def _credit_simulate(action: PreparedAction) -> dict[str, Any]:
    amount = action.payload["amount"]
    balance = _balance(action.target_id)
    before = {"balance": balance}
    refusal = _halted()
    if refusal is None and balance + amount > MAX_BALANCE:
        refusal = {"code": billing_errors.BALANCE_LIMIT_EXCEEDED, "status": 409,
                   "message": _("A balance cannot exceed %(max)d cents.") % {"max": MAX_BALANCE}}
    if refusal is not None:
        return simulation_dict(action="credit", would_apply=False, changes=False, target_type="billing_account",
                               target_id=action.target_id, before=before, **refusal)
    return simulation_dict(action="credit", would_apply=True, changes=True, target_type="billing_account",
                           target_id=action.target_id, before=before, after={"balance": balance + amount})


def _credit_execute(action: PreparedAction, ctx: ExecutionContext) -> dict[str, Any]:
    entry = ledger_post(account_id=action.target_id, type=CREDIT, amount=action.payload["amount"],
                        description=action.payload.get("description") or ctx.reason, reference_id=ctx.reference)
    return {"entry_id": str(entry.pk), "account_id": str(entry.account_id), "balance_after": entry.balance_after}


# --- refund ---------------------------------------------------------------------------------------------------------


def _refundable(entry: LedgerEntry) -> int:
    corrected = LedgerEntry.objects.filter(corrects=entry).aggregate(total=Sum("amount"))["total"] or 0
    return entry.amount - corrected


def _prepare_refund(*, tenant_id: Any, target: Target, payload: dict[str, Any]) -> Prepared:
    payload = payload_check(payload, optional=("amount", "description"))
    description = payload_text(payload, "description")
    entry = LedgerEntry.objects.select_related("account").filter(pk=target.id).first()
    if entry is None or not user_in_tenant(user_id=entry.account.user_id, tenant_id=tenant_id):
        raise NotFound(_("Ledger entry not found."), code=LEDGER_ENTRY_NOT_FOUND)
    refundable = _refundable(entry)
    # The amount is fixed now (the whole remainder when not given), so what is approved is what is refunded.
    amount = validate_amount(payload["amount"], field="payload.amount") if "amount" in payload else refundable
    return Prepared(payload={"amount": amount, **({"description": description} if description else {})},
                    amount=max(amount, 0), target_type="ledger_entry", target_id=str(entry.pk),
                    context={"entry_type": entry.type, "entry_amount": entry.amount, "refundable": refundable,
                             "account_id": str(entry.account_id)})


def _refund_simulate(action: PreparedAction) -> dict[str, Any]:
    entry = LedgerEntry.objects.get(pk=action.target_id)
    amount = action.payload["amount"]
    refundable = _refundable(entry)
    balance = _balance(entry.account_id)
    before = {"balance": balance, "refundable": refundable}
    refusal = _halted()
    if refusal is None and not 0 < amount <= refundable:
        refusal = {"code": billing_errors.INVALID_CORRECTION, "status": 400,
                   "message": _("Only %(remaining)d cents of this entry are left to correct.")
                   % {"remaining": refundable}}
    if refusal is None and entry.type == CREDIT and balance < amount:
        refusal = {"code": billing_errors.INSUFFICIENT_FUNDS, "status": 409,
                   "message": _("The balance (%(balance)d) is lower than the debit (%(amount)d).")
                   % {"balance": balance, "amount": amount}}
    if refusal is not None:
        return simulation_dict(action="refund", would_apply=False, changes=False, target_type="ledger_entry",
                               target_id=action.target_id, before=before, **refusal)
    after = {"balance": balance - amount if entry.type == CREDIT else balance + amount,
             "refundable": refundable - amount}
    return simulation_dict(action="refund", would_apply=True, changes=True, target_type="ledger_entry",
                           target_id=action.target_id, before=before, after=after)


def _refund_execute(action: PreparedAction, ctx: ExecutionContext) -> dict[str, Any]:
    if action.payload["amount"] < 1:
        raise InvalidInput(_("This entry has already been refunded in full."),
                           code=billing_errors.INVALID_CORRECTION)
    entry = ledger_refund(entry_id=action.target_id, amount=action.payload["amount"],
                          description=action.payload.get("description") or ctx.reason)
    return {"entry_id": str(entry.pk), "corrects": str(entry.corrects_id), "type": entry.type,
            "account_id": str(entry.account_id), "balance_after": entry.balance_after}


# --- payout ---------------------------------------------------------------------------------------------------------


def _prepare_payout(*, tenant_id: Any, target: Target, payload: dict[str, Any]) -> Prepared:
    payload = payload_check(payload, required=("amount", "destination"))
    amount = validate_amount(payload["amount"], field="payload.amount")
    parsed = destination_parse(payload["destination"])
    account = _account(tenant_id, target.id)
    return Prepared(payload={"amount": amount, "destination": payload["destination"]}, amount=amount,
                    target_type="billing_account", target_id=str(account.pk),
                    context={"balance": account.balance, "destination_type": parsed.type,
                             "destination": mask(parsed.normalised),
                             "payout_needs_approval": amount > settings.BILLING_PAYOUT_APPROVAL_THRESHOLD})


def _payout_simulate(action: PreparedAction) -> dict[str, Any]:
    amount = action.payload["amount"]
    balance = _balance(action.target_id)
    before = {"balance": balance}
    refusal = _halted()
    if refusal is None and balance < amount:
        refusal = {"code": billing_errors.INSUFFICIENT_FUNDS, "status": 409,
                   "message": _("The balance (%(balance)d) is lower than the debit (%(amount)d).")
                   % {"balance": balance, "amount": amount}}
    if refusal is not None:
        return simulation_dict(action="payout", would_apply=False, changes=False, target_type="billing_account",
                               target_id=action.target_id, before=before, **refusal)
    awaiting = amount > settings.BILLING_PAYOUT_APPROVAL_THRESHOLD
    return simulation_dict(action="payout", would_apply=True, changes=True, target_type="billing_account",
                           target_id=action.target_id, before=before,
                           after={"balance": balance - amount, "payout_status": Payout.Status.PENDING,
                                  "payout_approval": Payout.Approval.AWAITING if awaiting
                                  else Payout.Approval.NOT_REQUIRED})


def _payout_execute(action: PreparedAction, ctx: ExecutionContext) -> dict[str, Any]:
    payout = payout_request(account_id=action.target_id, amount=action.payload["amount"],
                            destination=action.payload["destination"], app_id=ctx.app_id,
                            idempotency_key=ctx.reference)
    if ctx.approved_by is not None and payout.approval == Payout.Approval.AWAITING:
        # The person who approved the agent's decision held a billing authority reaching its impact: that approval
        # is the payout's approval too (recorded on the payout with their name).
        payout = payout_approve(payout, actor=ctx.approved_by, reason=_("approved as %(ref)s") % {"ref": ctx.reason})
    return {"payout_id": str(payout.pk), "status": payout.status, "approval": payout.approval,
            "amount": payout.amount, "hold_entry_id": str(payout.hold_entry_id)}


def register() -> None:
    register_executor(DOMAIN, "credit", targets=("account",), prepare=_prepare_credit, simulate=_credit_simulate,
                      execute=_credit_execute, moves_money=True,
                      description="Credit a billing account (billing.services.ledger.ledger_post).",
                      payload_help='{"amount": cents, "description"?: text}')
    register_executor(DOMAIN, "refund", targets=("entry",), prepare=_prepare_refund, simulate=_refund_simulate,
                      execute=_refund_execute, moves_money=True,
                      description="Refund (part of) a ledger entry with the opposite entry "
                                  "(billing.services.ledger.ledger_refund).",
                      payload_help='{"amount"?: cents (default: what is left to refund), "description"?: text}')
    register_executor(DOMAIN, "payout", targets=("account",), prepare=_prepare_payout, simulate=_payout_simulate,
                      execute=_payout_execute, moves_money=True,
                      description="Request a payout to a PIX key or bank account "
                                  "(billing.services.payouts.payout_request).",
                      payload_help='{"amount": cents, "destination": {"type": "pix", "key": …} | bank account}')
