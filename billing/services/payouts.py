"""Payouts: the amount is held (debited) when requested, sent by a job, credited back if the payout fails.

Payouts above ``BILLING_PAYOUT_APPROVAL_THRESHOLD`` cents wait in ``pending`` with approval ``awaiting`` until
:func:`payout_approve` or :func:`payout_reject` is called (from the console, or by the governance approval flow).
Each of those runs once: a second call finds the payout decided and raises 409 ``payout_state_conflict``.
"""
from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from billing import errors, events
from billing.destinations import destination_parse, mask
from billing.models import Payout
from billing.payout_backends import payout_backend
from billing.services.ledger import CREDIT, DEBIT, ledger_post, lock_account, validate_amount
from infrastructure.services.jobs import job_enqueue
from infrastructure.services.killswitches import killswitch_ensure_running
from prostqs.errors import Conflict, NotFound

SEND_JOB = "payout_send"


def _actor_id(actor: Any) -> Any:
    return getattr(actor, "pk", None)


def _lock(payout: Any) -> Payout:
    pk = payout.pk if isinstance(payout, Payout) else payout
    try:
        return Payout.objects.select_for_update().get(pk=pk)
    except (Payout.DoesNotExist, ValidationError, ValueError, TypeError):
        raise NotFound(_("Payout not found.")) from None


def _enqueue_send(payout: Payout) -> None:
    job_enqueue(SEND_JOB, payload={"payout_id": str(payout.pk)})


@transaction.atomic
def payout_request(*, account_id: Any, amount: int, destination: Any, app_id: Any = None,
                   idempotency_key: str = "") -> Payout:
    """Hold the amount and queue the payout (or leave it awaiting approval above the threshold)."""
    amount = validate_amount(amount)
    parsed = destination_parse(destination)
    killswitch_ensure_running("billing")
    account = lock_account(account_id)
    payout = Payout(id=uuid.uuid4(), account=account, app_id=app_id, amount=amount,
                    destination=parsed.normalised, destination_type=parsed.type, idempotency_key=idempotency_key)
    if amount > settings.BILLING_PAYOUT_APPROVAL_THRESHOLD:
        payout.approval = Payout.Approval.AWAITING
    payout.hold_entry = ledger_post(account_id=account.pk, type=DEBIT, amount=amount,
                                    description=_("Payout hold"), reference_id=str(payout.pk))
    payout.save(force_insert=True)
    if payout.approval == Payout.Approval.NOT_REQUIRED:
        _enqueue_send(payout)
    audit_record(events.PAYOUT_REQUESTED, action="request", target_type="payout", target_id=payout.pk,
                 after={"amount": amount, "destination": mask(payout.destination), "approval": payout.approval},
                 metadata={"account_id": str(account.pk), "hold_entry_id": str(payout.hold_entry_id)},
                 app_id=app_id)
    return payout


def _reverse(payout: Payout, *, status_reason: str) -> None:
    payout.reversal_entry = ledger_post(account_id=payout.account_id, type=CREDIT, amount=payout.amount,
                                        description=_("Payout reversal: %(why)s") % {"why": status_reason[:200]},
                                        reference_id=str(payout.pk), corrects=payout.hold_entry_id)
    payout.status = Payout.Status.FAILED
    payout.failure_reason = status_reason[:1000]


@transaction.atomic
def payout_approve(payout: Any, *, actor: Any = None, reason: str = "") -> Payout:
    """Release a payout that awaits approval: it is queued for sending. Runs once per payout."""
    killswitch_ensure_running("billing")
    payout = _lock(payout)
    if payout.status != Payout.Status.PENDING or payout.approval != Payout.Approval.AWAITING:
        raise Conflict(_("This payout is not awaiting approval (%(status)s, %(approval)s).")
                       % {"status": payout.status, "approval": payout.approval}, code=errors.PAYOUT_STATE)
    payout.approval = Payout.Approval.APPROVED
    payout.decided_by_id = _actor_id(actor)
    payout.decided_at = timezone.now()
    payout.decision_reason = reason
    payout.save()
    _enqueue_send(payout)
    audit_record(events.PAYOUT_APPROVED, action="approve", target_type="payout", target_id=payout.pk,
                 before={"approval": Payout.Approval.AWAITING}, after={"approval": payout.approval},
                 reason=reason, actor_id=_actor_id(actor), app_id=payout.app_id)
    return payout


@transaction.atomic
def payout_reject(payout: Any, *, actor: Any = None, reason: str = "") -> Payout:
    """Refuse a payout that awaits approval: it fails and its hold is credited back. Runs once per payout."""
    payout = _lock(payout)
    if payout.status != Payout.Status.PENDING or payout.approval != Payout.Approval.AWAITING:
        raise Conflict(_("This payout is not awaiting approval (%(status)s, %(approval)s).")
                       % {"status": payout.status, "approval": payout.approval}, code=errors.PAYOUT_STATE)
    payout.approval = Payout.Approval.REJECTED
    payout.decided_by_id = _actor_id(actor)
    payout.decided_at = timezone.now()
    payout.decision_reason = reason
    _reverse(payout, status_reason=_("rejected: %(why)s") % {"why": reason} if reason else _("rejected"))
    payout.save()
    audit_record(events.PAYOUT_REJECTED, action="reject", target_type="payout", target_id=payout.pk,
                 before={"approval": Payout.Approval.AWAITING, "status": Payout.Status.PENDING},
                 after={"approval": payout.approval, "status": payout.status},
                 metadata={"reversal_entry_id": str(payout.reversal_entry_id)}, reason=reason,
                 actor_id=_actor_id(actor), app_id=payout.app_id)
    return payout


@transaction.atomic
def payout_fail(payout: Any, *, actor: Any = None, reason: str) -> Payout:
    """Give up on a pending payout (e.g. its destination keeps refusing): credit the hold back."""
    payout = _lock(payout)
    if payout.status != Payout.Status.PENDING:
        raise Conflict(_("Only pending payouts can be failed (this one is %(status)s).") % {"status": payout.status},
                       code=errors.PAYOUT_STATE)
    _reverse(payout, status_reason=reason or _("failed by an operator"))
    payout.save()
    audit_record(events.PAYOUT_FAILED, action="fail", target_type="payout", target_id=payout.pk,
                 before={"status": Payout.Status.PENDING}, after={"status": payout.status},
                 metadata={"reversal_entry_id": str(payout.reversal_entry_id)}, reason=reason,
                 actor_id=_actor_id(actor), app_id=payout.app_id)
    return payout


@transaction.atomic
def payout_send(*, payout_id: Any) -> Payout:
    """The ``payout_send`` job: send a released payout once; a refusal fails it and credits the hold back.

    Does nothing for a payout that is not pending or still awaits approval (jobs run at least once). A transient
    backend failure raises, so the job is retried; the billing kill switch holds payouts back the same way.
    """
    payout = _lock(payout_id)
    if payout.status != Payout.Status.PENDING or payout.approval in (Payout.Approval.AWAITING,
                                                                      Payout.Approval.REJECTED):
        return payout
    killswitch_ensure_running("billing")
    result = payout_backend().send(payout_id=str(payout.pk), amount=payout.amount, currency=payout.account.currency,
                                   destination=payout.destination, idempotency_key=str(payout.pk))
    if result.sent:
        payout.status = Payout.Status.SENT
        payout.provider_reference = result.reference[:255]
        payout.sent_at = timezone.now()
        payout.save()
        audit_record(events.PAYOUT_SENT, action="send", target_type="payout", target_id=payout.pk,
                     before={"status": Payout.Status.PENDING}, after={"status": payout.status},
                     metadata={"reference": payout.provider_reference}, app_id=payout.app_id)
        return payout
    _reverse(payout, status_reason=result.failure_reason or _("refused by the destination"))
    payout.save()
    audit_record(events.PAYOUT_FAILED, action="fail", target_type="payout", target_id=payout.pk,
                 before={"status": Payout.Status.PENDING}, after={"status": payout.status},
                 metadata={"reversal_entry_id": str(payout.reversal_entry_id)}, reason=payout.failure_reason,
                 app_id=payout.app_id)
    return payout
