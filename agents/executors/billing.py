"""Billing executors: credit an account, refund a ledger entry, request a payout.

Each calls ``billing.services`` (the ledger's lock, overdraft refusal and ``billing`` kill switch apply at execution
time). The simulations read the same state and apply the same checks, without writing.
"""
from __future__ import annotations

from typing import Any

from django.conf import settings
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
from billing import tenancy
from billing.destinations import destination_parse, mask
from billing.models import MAX_BALANCE, BillingAccount, LedgerEntry, Payout
from billing.services import refunds
from billing.services.ledger import CREDIT, ledger_post, validate_amount
from billing.services.payouts import payout_approve, payout_request
from core.errors import InvalidInput, NotFound
from identity.models import Application
from infrastructure.services.killswitches import killswitch_halted_scopes

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


def _app(app_id: Any) -> Application | None:
    return Application.objects.filter(pk=app_id).first() if app_id else None


def _account(app_id: Any, account_id: Any) -> BillingAccount:
    """The account, if its holder proved themselves to the agent's application (``billing.tenancy``); else 404."""
    return tenancy.account_for_app(app=_app(app_id), account_id=account_id)


def _available(action: PreparedAction, account_id: Any) -> int:
    """What the agent's tenant may move out of the account (its funds, never more than the balance)."""
    return tenancy.available_to_tenant(account=BillingAccount.objects.get(pk=account_id), tenant_id=action.tenant_id)


# --- credit ---------------------------------------------------------------------------------------------------------


def _prepare_credit(*, tenant_id: Any, app_id: Any, target: Target, payload: dict[str, Any]) -> Prepared:
    payload = payload_check(payload, required=("amount",), optional=("description",))
    amount = validate_amount(payload["amount"], field="payload.amount")
    description = payload_text(payload, "description")
    account = _account(app_id, target.id)
    return Prepared(payload={"amount": amount, **({"description": description} if description else {})},
                    amount=amount, target_type="billing_account", target_id=str(account.pk),
                    context={"balance": tenancy.available_to_tenant(account=account, tenant_id=tenant_id),
                             "currency": account.currency})


def _credit_simulate(action: PreparedAction) -> dict[str, Any]:
    amount = action.payload["amount"]
    balance = BillingAccount.objects.values_list("balance", flat=True).get(pk=action.target_id)
    available = _available(action, action.target_id)
    before = {"balance": available}
    refusal = _halted()
    if refusal is None and balance + amount > MAX_BALANCE:
        refusal = {"code": billing_errors.BALANCE_LIMIT_EXCEEDED, "status": 409,
                   "message": _("A balance cannot exceed %(max)d cents.") % {"max": MAX_BALANCE}}
    if refusal is not None:
        return simulation_dict(action="credit", would_apply=False, changes=False, target_type="billing_account",
                               target_id=action.target_id, before=before, **refusal)
    return simulation_dict(action="credit", would_apply=True, changes=True, target_type="billing_account",
                           target_id=action.target_id, before=before, after={"balance": available + amount})


def _credit_execute(action: PreparedAction, ctx: ExecutionContext) -> dict[str, Any]:
    # The tenant's agent credits the person: the money is the tenant's to move (its funds), as a payment would be.
    entry = ledger_post(account_id=action.target_id, type=CREDIT, amount=action.payload["amount"],
                        description=action.payload.get("description") or ctx.reason, reference_id=ctx.reference,
                        tenant_id=action.tenant_id)
    return {"entry_id": str(entry.pk), "account_id": str(entry.account_id),
            "balance_after": entry.tenant_balance_after}


# --- refund ---------------------------------------------------------------------------------------------------------


def _prepare_refund(*, tenant_id: Any, app_id: Any, target: Target, payload: dict[str, Any]) -> Prepared:
    payload = payload_check(payload, optional=("amount", "description"))
    description = payload_text(payload, "description")
    try:
        entry = tenancy.ledger_entry_for_app(app=_app(app_id), entry_id=target.id)
    except NotFound:
        raise NotFound(_("Ledger entry not found."), code=LEDGER_ENTRY_NOT_FOUND) from None
    # Only a payment's credit of the tenant's own: never a payout hold, an ad spend, a dispute or a correction.
    refunds.refund_check(entry, tenant_id=tenant_id)
    refundable = refunds.refundable_left(entry)
    # The amount is fixed now (the whole remainder when not given), so what is approved is what is refunded.
    amount = validate_amount(payload["amount"], field="payload.amount") if "amount" in payload else refundable
    return Prepared(payload={"amount": amount, **({"description": description} if description else {})},
                    amount=max(amount, 0), target_type="ledger_entry", target_id=str(entry.pk),
                    context={"entry_type": entry.type, "entry_amount": entry.amount, "refundable": refundable,
                             "account_id": str(entry.account_id)})


def _refund_simulate(action: PreparedAction) -> dict[str, Any]:
    entry = LedgerEntry.objects.get(pk=action.target_id)
    amount = action.payload["amount"]
    refundable = refunds.refundable_left(entry)
    available = _available(action, entry.account_id)
    before = {"balance": available, "refundable": refundable}
    refusal = _halted()
    if refusal is None and not 0 < amount <= refundable:
        refusal = {"code": billing_errors.INVALID_CORRECTION, "status": 400,
                   "message": _("Only %(remaining)d cents of this payment are left to refund.")
                   % {"remaining": refundable}}
    if refusal is None and available < amount:
        refusal = {"code": billing_errors.INSUFFICIENT_FUNDS, "status": 409,
                   "message": _("The funds available to this tenant (%(available)d) are lower than the debit "
                                "(%(amount)d).") % {"available": available, "amount": amount}}
    if refusal is not None:
        return simulation_dict(action="refund", would_apply=False, changes=False, target_type="ledger_entry",
                               target_id=action.target_id, before=before, **refusal)
    after = {"balance": available - amount, "refundable": refundable - amount}
    return simulation_dict(action="refund", would_apply=True, changes=True, target_type="ledger_entry",
                           target_id=action.target_id, before=before, after=after)


def _refund_execute(action: PreparedAction, ctx: ExecutionContext) -> dict[str, Any]:
    if action.payload["amount"] < 1:
        raise InvalidInput(_("This entry has already been refunded in full."),
                           code=billing_errors.INVALID_CORRECTION)
    entry = refunds.refund_create(entry_id=action.target_id, amount=action.payload["amount"],
                                  tenant_id=action.tenant_id,
                                  reason=action.payload.get("description") or ctx.reason,
                                  actor_id=ctx.agent_id, actor_type="agent", reference_id=ctx.reference)
    return {"entry_id": str(entry.pk), "corrects": str(entry.corrects_id), "type": entry.type,
            "account_id": str(entry.account_id), "balance_after": entry.tenant_balance_after}


# --- payout ---------------------------------------------------------------------------------------------------------


def _prepare_payout(*, tenant_id: Any, app_id: Any, target: Target, payload: dict[str, Any]) -> Prepared:
    payload = payload_check(payload, required=("amount", "destination"))
    amount = validate_amount(payload["amount"], field="payload.amount")
    parsed = destination_parse(payload["destination"])
    account = _account(app_id, target.id)
    return Prepared(payload={"amount": amount, "destination": payload["destination"]}, amount=amount,
                    target_type="billing_account", target_id=str(account.pk),
                    context={"balance": tenancy.available_to_tenant(account=account, tenant_id=tenant_id),
                             "destination_type": parsed.type,
                             "destination": mask(parsed.normalised),
                             "payout_needs_approval": amount > settings.BILLING_PAYOUT_APPROVAL_THRESHOLD})


def _payout_simulate(action: PreparedAction) -> dict[str, Any]:
    amount = action.payload["amount"]
    balance = _available(action, action.target_id)
    before = {"balance": balance}
    refusal = _halted()
    if refusal is None and balance < amount:
        refusal = {"code": billing_errors.INSUFFICIENT_FUNDS, "status": 409,
                   "message": _("The funds available to this tenant (%(available)d) are lower than the debit "
                                "(%(amount)d).") % {"available": balance, "amount": amount}}
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
                            tenant_id=action.tenant_id, idempotency_key=ctx.reference)
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
                      description="Refund (part of) a payment's credit entry of the tenant's own "
                                  "(billing.services.refunds.refund_create).",
                      payload_help='{"amount"?: cents (default: what is left to refund), "description"?: text}')
    register_executor(DOMAIN, "payout", targets=("account",), prepare=_prepare_payout, simulate=_payout_simulate,
                      execute=_payout_execute, moves_money=True,
                      description="Request a payout to a PIX key or bank account "
                                  "(billing.services.payouts.payout_request).",
                      payload_help='{"amount": cents, "destination": {"type": "pix", "key": …} | bank account}')
