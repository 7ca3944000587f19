"""Payouts: the amount is held (debited) when requested, sent by a job, credited back if the payout fails.

Payouts above ``BILLING_PAYOUT_APPROVAL_THRESHOLD`` cents wait in ``pending`` with approval ``awaiting``, and the
same transaction opens a governance approval request (domain ``billing``, action ``payout``, reference = the
payout id). People decide that request (API or console, with their decision authority); its outcome reaches
billing through the ``billing`` approval callback (``billing.approvals``), which calls :func:`payout_approve` or
:func:`payout_reject`. Each of those runs once: a second call finds the payout decided and raises 409
``payout_state_conflict``.
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
from billing import errors, events, notifications
from billing.destinations import destination_digest, destination_parse, mask
from billing.models import Payout
from billing.payout_backends import payout_backend
from billing.services.ledger import CREDIT, DEBIT, ledger_post, lock_account, validate_amount
from core.errors import Conflict, NotFound
from governance.models import ApprovalRequest, PartyRelation
from governance.services.approvals import ApprovalOutcome, approval_decide, approval_request_create
from identity.models import Application, User
from infrastructure.services.jobs import job_enqueue
from infrastructure.services.killswitches import killswitch_ensure_running

SEND_JOB = "payout_send"
# The governance approval a payout above the threshold waits for: its domain, action and callback key.
APPROVAL_DOMAIN = "billing"
APPROVAL_ACTION = "payout"


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


def payout_approval_request(payout: Payout) -> ApprovalRequest:
    """The governance approval request a payout waits for, opened if it is not there yet (idempotent: the
    request is found by its reference, the payout id). Call inside the payout's transaction.

    The request acts on behalf of the account holder (recorded as the requester too: the payout is their money
    leaving) and of the owner of the application that asked for it (the tenant); governance's self-approval rule
    keeps both from deciding it. A payout an agent asks for also gets the agent's owners, from the scope the
    agents pipeline opens around its execution (``governance.parties``).
    """
    account = payout.account
    parties = [(account.user_id, PartyRelation.ACCOUNT_HOLDER.value)]
    app_owner = (Application.objects.filter(pk=payout.app_id).values_list("owner_id", flat=True).first()
                 if payout.app_id else None)
    if app_owner is not None:
        parties.append((app_owner, PartyRelation.APP_OWNER.value))
    return approval_request_create(
        domain=APPROVAL_DOMAIN, action=APPROVAL_ACTION, callback=APPROVAL_DOMAIN, amount=payout.amount,
        context={"payout_id": str(payout.pk), "account_id": str(account.pk), "user_id": str(account.user_id),
                 "app_id": str(payout.app_id) if payout.app_id else None, "amount": payout.amount,
                 "currency": account.currency, "destination": mask(payout.destination),
                 "destination_type": payout.destination_type, "hold_entry_id": str(payout.hold_entry_id)},
        requested_by=account.user_id, requested_by_type="user", reference=str(payout.pk), target_type="payout",
        target_id=str(payout.pk), on_behalf_of=parties)


@transaction.atomic
def payout_request(*, account_id: Any, amount: int, destination: Any, app_id: Any = None, tenant_id: Any = None,
                   idempotency_key: str = "") -> Payout:
    """Hold the amount and queue the payout; above the threshold, open its approval request instead.

    The hold moves the funds of ``tenant_id`` (default: the owner of ``app_id``) and is refused beyond them
    (``billing.tenancy``); a payout of neither (staff's) moves no tenant's funds."""
    amount = validate_amount(amount)
    parsed = destination_parse(destination)
    killswitch_ensure_running("billing")
    account = lock_account(account_id)
    # A person staff suspended or banned has their money frozen: nothing leaves their account by payout.
    if not User.objects.filter(pk=account.user_id, status=User.Status.ACTIVE).exists():
        raise Conflict(_("The account holder is suspended: no payout leaves their account."), code="user_inactive")
    payout = Payout(id=uuid.uuid4(), account=account, app_id=app_id, amount=amount,
                    destination=parsed.normalised, destination_type=parsed.type, idempotency_key=idempotency_key)
    if amount > settings.BILLING_PAYOUT_APPROVAL_THRESHOLD:
        payout.approval = Payout.Approval.AWAITING
    # An app's payout moves its tenant's funds only (billing.tenancy): refused beyond them, whatever the balance.
    if tenant_id is None and app_id is not None:
        tenant_id = Application.objects.filter(pk=app_id).values_list("owner_id", flat=True).first()
        if tenant_id is None:
            raise NotFound(_("Application not found."), code="app_not_found")
    payout.hold_entry = ledger_post(account_id=account.pk, type=DEBIT, amount=amount,
                                    description=_("Payout hold"), reference_id=str(payout.pk), tenant_id=tenant_id)
    payout.save(force_insert=True)
    metadata = {"account_id": str(account.pk), "hold_entry_id": str(payout.hold_entry_id),
                "destination_sha256": destination_digest(payout.pk, payout.destination)}
    if payout.approval == Payout.Approval.NOT_REQUIRED:
        _enqueue_send(payout)
    else:
        metadata["approval_request_id"] = str(payout_approval_request(payout).pk)
    audit_record(events.PAYOUT_REQUESTED, action="request", target_type="payout", target_id=payout.pk,
                 after={"amount": amount, "destination": mask(payout.destination), "approval": payout.approval},
                 metadata=metadata, app_id=app_id)
    return payout


def _reverse(payout: Payout, *, status_reason: str) -> None:
    payout.reversal_entry = ledger_post(account_id=payout.account_id, type=CREDIT, amount=payout.amount,
                                        description=_("Payout reversal: %(why)s") % {"why": status_reason[:200]},
                                        reference_id=str(payout.pk), corrects=payout.hold_entry_id)
    payout.status = Payout.Status.FAILED
    payout.failure_reason = status_reason[:1000]


def payout_decide(payout: Any, *, user: Any, decision: str, justification: str, ip: str | None = None,
                  user_agent: str = "") -> ApprovalOutcome:
    """A person's decision on a payout awaiting approval (the console's approve / reject): recorded on the
    payout's governance approval request by ``approval_decide``, so the decider's authority (scope, impact), the
    quorum, the self-approval rule and the hashed decision rows apply as to any other approval. The payout itself
    is released or credited back when the request's outcome is delivered (the ``billing`` approval callback).
    """
    with transaction.atomic():
        payout = _lock(payout)
        if payout.status != Payout.Status.PENDING or payout.approval != Payout.Approval.AWAITING:
            raise Conflict(_("This payout is not awaiting approval (%(status)s, %(approval)s).")
                           % {"status": payout.status, "approval": payout.approval}, code=errors.PAYOUT_STATE)
        request = payout_approval_request(payout)
    # Outside that transaction: deciding an expired request records the expiry and then answers 410, and the
    # expiry must stay recorded.
    return approval_decide(request_id=request.pk, user=user, decision=decision, justification=justification, ip=ip,
                           user_agent=user_agent)


@transaction.atomic
def payout_approve(payout: Any, *, actor: Any = None, reason: str = "") -> Payout:
    """Release a payout that awaits approval: it is queued for sending. Runs once per payout.

    Called by the ``billing`` approval callback once the payout's approval request is approved."""
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
    """Refuse a payout that awaits approval: it fails and its hold is credited back. Runs once per payout.

    Called by the ``billing`` approval callback once the payout's approval request is rejected or expired."""
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
    notifications.payout_notify(payout, notifications.PAYOUT_FAILED)
    return payout


@transaction.atomic
def payout_fail(payout: Any, *, actor: Any = None, reason: str) -> Payout:
    """Give up on a pending payout (e.g. its destination keeps refusing): credit the hold back.

    A payout awaiting approval is not failed here: its approval request decides it (a rejection credits it back).
    """
    payout = _lock(payout)
    if payout.status != Payout.Status.PENDING:
        raise Conflict(_("Only pending payouts can be failed (this one is %(status)s).") % {"status": payout.status},
                       code=errors.PAYOUT_STATE)
    if payout.approval == Payout.Approval.AWAITING:
        raise Conflict(_("This payout awaits approval: reject its approval request instead."),
                       code=errors.PAYOUT_STATE)
    _reverse(payout, status_reason=reason or _("failed by an operator"))
    payout.save()
    audit_record(events.PAYOUT_FAILED, action="fail", target_type="payout", target_id=payout.pk,
                 before={"status": Payout.Status.PENDING}, after={"status": payout.status},
                 metadata={"reversal_entry_id": str(payout.reversal_entry_id)}, reason=reason,
                 actor_id=_actor_id(actor), app_id=payout.app_id)
    notifications.payout_notify(payout, notifications.PAYOUT_FAILED)
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
        notifications.payout_notify(payout, notifications.PAYOUT_SENT)
        return payout
    _reverse(payout, status_reason=result.failure_reason or _("refused by the destination"))
    payout.save()
    audit_record(events.PAYOUT_FAILED, action="fail", target_type="payout", target_id=payout.pk,
                 before={"status": Payout.Status.PENDING}, after={"status": payout.status},
                 metadata={"reversal_entry_id": str(payout.reversal_entry_id)}, reason=payout.failure_reason,
                 app_id=payout.app_id)
    notifications.payout_notify(payout, notifications.PAYOUT_FAILED)
    return payout
