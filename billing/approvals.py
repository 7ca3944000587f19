"""Billing's approval callbacks: how a decided governance approval request continues or stops billing's work.

Registered under the ``billing`` key from ``BillingConfig.ready()``. Governance delivers each decided request at
least once (a ``governance.approval_callback`` job): an approved payout is released (:func:`payout_approve`
queues its send), a rejected or expired one is refused (:func:`payout_reject` credits its hold back). A payout that
is no longer awaiting approval was settled by an earlier delivery (or otherwise); that is done, not an error, so
a repeated delivery changes nothing. Any other failure (the billing kill switch, the database) raises, and the
callback job is retried.
"""
from __future__ import annotations

import logging

from django.utils.translation import gettext as _

from billing import errors
from billing.services.payouts import APPROVAL_ACTION, APPROVAL_DOMAIN, payout_approve, payout_reject
from core.errors import Conflict
from governance.callbacks import register_approval_callback
from governance.models import ApprovalDecision, ApprovalRequest

logger = logging.getLogger("prostqs.billing.approvals")


def _deciding(request: ApprovalRequest, decision: str) -> tuple[object | None, str]:
    """Who took the decision that closed the request, and their justification (nobody, for an expiry)."""
    last = (request.decisions.filter(decision=decision).select_related("decided_by").order_by("-sequence").first()
            if decision else None)
    if last is None:
        return None, ""
    return last.decided_by, last.justification


def _settle(request: ApprovalRequest, call, *, actor, reason: str) -> None:
    if request.action != APPROVAL_ACTION:
        # A billing request for another action would need its own handling; failing keeps it visible (the job
        # retries, then lands in the dead letters) instead of silently dropping the decision.
        raise LookupError(f"no billing approval handling for action {request.action!r}")
    try:
        call(request.reference, actor=actor, reason=reason)
    except Conflict as exc:
        if exc.code != errors.PAYOUT_STATE:
            raise
        logger.info("approval %s (%s): payout %s is no longer awaiting approval; nothing to do",
                    request.pk, request.status, request.reference)


def payout_approval_approved(request: ApprovalRequest) -> None:
    actor, justification = _deciding(request, ApprovalDecision.Decision.APPROVED)
    _settle(request, payout_approve, actor=actor,
            reason=justification or _("approved (approval request %(id)s)") % {"id": request.pk})


def payout_approval_rejected(request: ApprovalRequest) -> None:
    if request.status == ApprovalRequest.Status.EXPIRED:
        actor, reason = None, _("approval request expired undecided")
    else:
        actor, reason = _deciding(request, ApprovalDecision.Decision.REJECTED)
        reason = reason or _("rejected (approval request %(id)s)") % {"id": request.pk}
    _settle(request, payout_reject, actor=actor, reason=reason)


def register() -> None:
    register_approval_callback(APPROVAL_DOMAIN, payout_approval_approved, payout_approval_rejected)
