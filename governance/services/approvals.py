"""Approval requests: create, decide (with quorum and escalation), expire, deliver outcomes, verify decisions."""
from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from core.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound
from core.integrity.chain import CONTENT_ALTERED, GAP, LINK_BROKEN, link_kind
from core.integrity.registry import Check
from governance import conf, events
from governance.approval_hash import GENESIS_HASH, decision_hash
from governance.callbacks import approval_callback
from governance.jsonvalues import json_ready
from governance.models import (
    ApprovalDecision,
    ApprovalParty,
    ApprovalRequest,
    DecisionAuthority,
    Impact,
    PartyRelation,
    PolicyEvaluation,
)
from governance.models.approvals import IMPACT_ORDER, RequesterType
from governance.parties import Party, parties_clean, scoped_parties
from infrastructure.services.jobs import job_enqueue

CALLBACK_JOB = "governance.approval_callback"
EXPIRE_JOB = "governance.approvals_expire"
JUSTIFICATION_MIN = 10
_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
Decision = ApprovalDecision.Decision
Status = ApprovalRequest.Status


# --- impact and quorum --------------------------------------------------------------------------------------------


def approval_impact(*, amount: int = 0, risk: float | None = None) -> str:
    """The impact of an action from its amount (cents) and risk score (0 to 1), by the configured thresholds:
    the higher of the two levels."""
    settings = conf.get()
    level = 0
    for index, threshold in enumerate(settings.impact_amounts, start=1):
        if amount and amount >= threshold:
            level = max(level, index)
    if risk is not None:
        for index, threshold in enumerate(settings.impact_risks, start=1):
            if risk >= threshold:
                level = max(level, index)
    return IMPACT_ORDER[level]


def approval_quorum(*, domain: str, impact: str) -> int:
    """Approvals from distinct authorities needed: ``domain.impact`` from APPROVAL_QUORUM, else ``*.impact``,
    else 1."""
    quorum = conf.get().quorum
    return quorum.get((domain, impact)) or quorum.get(("*", impact)) or 1


# --- create -------------------------------------------------------------------------------------------------------


def _create_problems(*, domain, action, amount, risk, impact, requested_by_type, callback) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    if not isinstance(domain, str) or not _DOMAIN.match(domain):
        problems["domain"] = [_("A domain name: lowercase letters, digits, '_' or '-'.")]
    if not isinstance(action, str) or not action or len(action) > 64:
        problems["action"] = [_("An action name of at most 64 characters is required.")]
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        problems["amount"] = [_("A whole, non-negative number of cents.")]
    if risk is not None and (isinstance(risk, bool) or not isinstance(risk, (int, float)) or not 0 <= risk <= 1):
        problems["risk"] = [_("A score between 0 and 1.")]
    if impact is not None and impact not in IMPACT_ORDER:
        problems["impact"] = [_("One of %(levels)s.") % {"levels": ", ".join(IMPACT_ORDER)}]
    if requested_by_type not in RequesterType.values:
        problems["requested_by_type"] = [_("One of %(types)s.") % {"types": ", ".join(RequesterType.values)}]
    if callback and approval_callback(callback) is None:
        problems["callback"] = [_("No approval callback is registered under %(key)r.") % {"key": callback}]
    return problems


def approval_request_create(
    *,
    domain: str,
    action: str,
    context: dict[str, Any],
    amount: int = 0,
    risk: float | None = None,
    impact: str | None = None,
    requested_by: uuid.UUID | None = None,
    requested_by_type: str = RequesterType.SYSTEM,
    reference: str = "",
    target_type: str = "",
    target_id: str = "",
    callback: str | None = None,
    expires_at: datetime | None = None,
    policy_evaluation_id: uuid.UUID | None = None,
    on_behalf_of: Iterable[Party] | None = None,
) -> ApprovalRequest:
    """Put an action on hold for human approval (inside the caller's transaction).

    ``impact`` is derived from ``amount`` and ``risk`` (APPROVAL_IMPACT_AMOUNTS / _RISKS); an explicit ``impact``
    can raise it, never lower it. The quorum is fixed now (APPROVAL_QUORUM). ``callback`` names the registered
    approval callback to tell of the outcome: by default the one registered under ``domain``, if any.
    ``reference`` (the waiting work's id) makes the call idempotent: the same (callback, domain, reference)
    returns the request already made.

    ``on_behalf_of`` names the request's parties, ``(user id, PartyRelation)`` pairs: the people on whose behalf
    it acts (an agent's owners, the account holder…), none of whom may decide it. A requester who is a person is
    one of them without being named, and so are the parties of any ``approval_parties_scope`` open around the
    call. They are fixed now, with the request (see ``governance.parties``).
    """
    if callback is None:
        callback = domain if isinstance(domain, str) and approval_callback(domain) else ""
    problems = _create_problems(domain=domain, action=action, amount=amount, risk=risk, impact=impact,
                                requested_by_type=requested_by_type, callback=callback)
    if not isinstance(context, dict):
        problems["context"] = [_("The context must be a JSON object.")]
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        problems["expires_at"] = [_("The expiry must be in the future.")]
    if len(reference or "") > 128:
        problems["reference"] = [_("At most 128 characters.")]
    if problems:
        raise InvalidInput(fields=problems)
    parties = _parties(on_behalf_of, requested_by=requested_by, requested_by_type=requested_by_type)
    if reference:
        existing = ApprovalRequest.objects.filter(callback=callback, domain=domain, reference=reference).first()
        if existing is not None:
            return existing
    derived = approval_impact(amount=amount, risk=risk)
    final_impact = max(derived, impact or derived, key=Impact.rank)
    request = ApprovalRequest(
        domain=domain, action=action, impact=final_impact, required_impact=final_impact,
        required_approvals=approval_quorum(domain=domain, impact=final_impact), amount=amount,
        risk_score=float(risk) if risk is not None else None, context=json_ready(context),
        requested_by=requested_by, requested_by_type=requested_by_type, reference=reference or "",
        target_type=target_type or "", target_id=str(target_id or ""), callback=callback,
        policy_evaluation=PolicyEvaluation.objects.filter(pk=policy_evaluation_id).first()
        if policy_evaluation_id else None,
        expires_at=expires_at or now + timedelta(seconds=conf.get().approval_ttl_seconds), created_at=now,
    )
    try:
        with transaction.atomic():
            request.save()
            # In the request's transaction: a request never exists, even for a moment, without its parties.
            ApprovalParty.objects.bulk_create([ApprovalParty(request=request, user_id=user_id, relation=relation,
                                                             created_at=now) for user_id, relation in parties])
            audit_record(events.APPROVAL_REQUESTED, action="request", target_type="approval_request",
                         target_id=request.pk,
                         after={"domain": domain, "action": action, "impact": final_impact, "amount": amount,
                                "required_approvals": request.required_approvals,
                                "expires_at": request.expires_at.isoformat(), "reference": request.reference,
                                "on_behalf_of": [{"user_id": str(user_id), "relation": relation}
                                                 for user_id, relation in parties]},
                         actor_id=requested_by, actor_type=_actor_type(requested_by_type))
    except IntegrityError:
        existing = ApprovalRequest.objects.filter(callback=callback, domain=domain, reference=reference).first()
        if existing is None:
            raise
        return existing
    return request


def _actor_type(requested_by_type: str) -> str:
    return {"user": "user", "agent": "agent", "app": "app"}.get(requested_by_type, "system")


def _parties(on_behalf_of, *, requested_by, requested_by_type) -> list[Party]:
    """The request's parties: the requester when a person, those named, those of the open scopes; each person
    must exist (a party nobody can sign in as would protect nothing and hide a caller's mistake)."""
    given = parties_clean(on_behalf_of)
    requester = ([(requested_by, PartyRelation.REQUESTER.value)]
                 if requested_by is not None and requested_by_type == RequesterType.USER else [])
    parties = parties_clean([*requester, *given, *scoped_parties()])
    wanted = {user_id for user_id, _r in parties}
    known = set(get_user_model().objects.filter(pk__in=wanted).values_list("pk", flat=True))
    if wanted - known:
        raise InvalidInput(fields={"on_behalf_of": [_("No such person: %(ids)s.")
                                                    % {"ids": ", ".join(sorted(map(str, wanted - known)))}]})
    return parties


def approval_party_relations(*, request: ApprovalRequest, user) -> list[str]:
    """How ``user`` is a party of ``request`` (``PartyRelation`` values; empty when they are not one). The
    requester of a request made before parties were recorded counts as one too."""
    pk = getattr(user, "pk", None)
    if pk is None:
        return []
    relations = [p.relation for p in request.parties.all() if p.user_id == pk]
    if request.requested_by is not None and request.requested_by == pk and PartyRelation.REQUESTER not in relations:
        relations.insert(0, PartyRelation.REQUESTER.value)
    return relations


def approval_party_ids(*, request: ApprovalRequest) -> set:
    """Every person on whose behalf ``request`` acts (see ``approval_party_relations``)."""
    ids = {p.user_id for p in request.parties.all()}
    if request.requested_by is not None:
        ids.add(request.requested_by)
    return ids


# --- authority checks ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorityCheck:
    authority: DecisionAuthority | None
    code: str = ""
    message: str = ""


def approval_authority_for(*, request: ApprovalRequest, user, now: datetime | None = None) -> AuthorityCheck:
    """The user's strongest authority in force that covers the request's domain and reaches its required impact,
    or why there is none (``code``/``message``)."""
    now = now or timezone.now()
    if user is None or not getattr(user, "is_active", False):
        return AuthorityCheck(None, "no_authority", _("Only an active user with a decision authority decides."))
    relations = approval_party_relations(request=request, user=user)
    if relations:
        labels = ", ".join(str(PartyRelation(r).label) for r in relations)
        return AuthorityCheck(None, "self_approval_forbidden",
                              _("Nobody decides a request made on their behalf: you are its %(relations)s.")
                              % {"relations": labels})
    grants = list(DecisionAuthority.objects.filter(user=user))
    in_force = [a for a in grants if a.is_in_force(now)]
    if not in_force:
        if any(a.active and a.expires_at and a.expires_at <= now for a in grants):
            return AuthorityCheck(None, "authority_expired", _("Your decision authority has expired."))
        return AuthorityCheck(None, "no_authority", _("You hold no decision authority in force."))
    covering = [a for a in in_force if a.covers_domain(request.domain)]
    if not covering:
        return AuthorityCheck(None, "authority_scope",
                              _("Your decision authority does not cover the %(domain)s domain.")
                              % {"domain": request.domain})
    reaching = [a for a in covering if a.reaches(request.required_impact)]
    if not reaching:
        return AuthorityCheck(None, "authority_impact",
                              _("This request needs an authority reaching %(impact)s impact.")
                              % {"impact": request.required_impact})
    return AuthorityCheck(max(reaching, key=lambda a: (Impact.rank(a.max_impact), a.granted_at)))


def _escalation_target(request: ApprovalRequest, authority: DecisionAuthority) -> str | None:
    return Impact.above(max(request.required_impact, authority.max_impact, key=Impact.rank))


def approval_decision_options(*, request: ApprovalRequest, user) -> list[str]:
    """The decisions ``user`` may take on ``request`` now (the console shows only these buttons)."""
    return approval_decide_choice(request=request, user=user).options


@dataclass(frozen=True)
class DecideChoice:
    """What ``user`` may do with a request now: the decisions open to them, or why none is (``code``, the decide
    path's error code, and ``message``)."""

    options: list[str]
    code: str = ""
    message: str = ""


def approval_decide_choice(*, request: ApprovalRequest, user) -> DecideChoice:
    """The decisions ``user`` may take on ``request`` now, or the reason they may take none (the console shows
    the buttons, or the reason)."""
    if request.status != Status.PENDING:
        return DecideChoice([], "approval_already_decided",
                            _("This request is already %(status)s.") % {"status": request.status})
    if request.is_past_expiry():
        return DecideChoice([], "approval_expired", _("This approval request has expired."))
    check = approval_authority_for(request=request, user=user)
    if check.authority is None:
        return DecideChoice([], check.code, check.message)
    if request.decisions.filter(decided_by=user).exists():
        return DecideChoice([], "already_decided_by_you", _("You have already decided this request."))
    options = [Decision.APPROVED.value, Decision.REJECTED.value]
    if _escalation_target(request, check.authority):
        options.append(Decision.ESCALATED.value)
    return DecideChoice(options)


# --- decide -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApprovalOutcome:
    request: ApprovalRequest
    decision: ApprovalDecision
    approvals: int
    required_approvals: int
    final: bool = field(default=False)


def _finalize(request: ApprovalRequest, status: str, now: datetime, *, actor_id=None, reason: str = "") -> None:
    """Move a pending request to its final status and schedule its callback (after commit, as a job)."""
    request.status = status
    request.decided_at = now
    request._change_reason = status
    request.save(update_fields=["status", "decided_at"])
    event = {Status.APPROVED: events.APPROVAL_APPROVED, Status.REJECTED: events.APPROVAL_REJECTED,
             Status.EXPIRED: events.APPROVAL_EXPIRED}[status]
    audit_record(event, action=status, target_type="approval_request", target_id=request.pk,
                 before={"status": Status.PENDING}, after={"status": status},
                 metadata={"domain": request.domain, "action": request.action, "reference": request.reference},
                 reason=reason, actor_id=actor_id, **({} if actor_id else {"actor_type": "system"}))
    if request.callback:
        job_enqueue(CALLBACK_JOB, payload={"request_id": str(request.pk)}, priority=10)


def _clean_decision(decision: Any, justification: Any) -> str:
    problems = {}
    if decision not in Decision.values:
        problems["decision"] = [_("One of %(choices)s.") % {"choices": ", ".join(Decision.values)}]
    if not isinstance(justification, str) or len(justification.strip()) < JUSTIFICATION_MIN:
        problems["justification"] = [_("Explain the decision in at least %(n)d characters.")
                                     % {"n": JUSTIFICATION_MIN}]
    if problems:
        raise InvalidInput(fields=problems)
    return justification.strip()


_EXPIRED = object()


def approval_decide(
    *,
    request_id: uuid.UUID,
    user,
    decision: str,
    justification: str,
    ip: str | None = None,
    user_agent: str = "",
) -> ApprovalOutcome:
    """Record ``user``'s decision on a pending request — the one path for the API and the console.

    The decider needs an authority in force whose scopes cover the domain and whose max_impact reaches the
    required impact; never one of the request's parties (the requester, the agent's owners, the account
    holder…: 403 ``self_approval_forbidden``, for escalating too); a justification of at least 10 characters.
    One rejection rejects; approval needs the request's quorum of distinct authorities, none of them a party;
    escalation moves the request to authorities of the next impact above the escalating one's. A decided
    request answers 409, an expired one 410 (and stays expired: expiry is final).
    """
    justification = _clean_decision(decision, justification)
    try:
        request_id = uuid.UUID(str(request_id))
    except ValueError:
        raise NotFound(_("No such approval request."), code="approval_not_found") from None
    outcome = _decide(request_id=request_id, user=user, decision=decision, justification=justification, ip=ip,
                      user_agent=(user_agent or "")[:512])
    if outcome is _EXPIRED:
        raise Gone(_("This approval request has expired; it can no longer be decided."), code="approval_expired")
    return outcome


@transaction.atomic
def _decide(*, request_id, user, decision, justification, ip, user_agent):
    # The row lock serialises deciders: the second one re-reads the status and gets 409.
    request = ApprovalRequest.objects.select_for_update().filter(pk=request_id).first()
    if request is None:
        raise NotFound(_("No such approval request."), code="approval_not_found")
    if request.status == Status.EXPIRED:
        return _EXPIRED
    if request.status != Status.PENDING:
        raise Conflict(_("This request is already %(status)s.") % {"status": request.status},
                       code="approval_already_decided", extra={"status": request.status})
    now = timezone.now()
    if request.is_past_expiry(now):
        _finalize(request, Status.EXPIRED, now, reason="expired before it was decided")
        return _EXPIRED
    check = approval_authority_for(request=request, user=user, now=now)
    if check.authority is None:
        raise Forbidden(check.message, code=check.code)
    authority = check.authority
    previous = list(request.decisions.order_by("sequence").values_list("decided_by", "hash", "sequence",
                                                                        "decision"))
    if any(decided_by == user.pk for decided_by, _h, _s, _d in previous):
        raise Conflict(_("You have already decided this request."), code="already_decided_by_you")
    escalate_to = None
    if decision == Decision.ESCALATED:
        escalate_to = _escalation_target(request, authority)
        if escalate_to is None:
            raise InvalidInput(_("Nothing is above critical impact: approve or reject."), code="cannot_escalate",
                               fields={"decision": [_("This request cannot be escalated further.")]})
    row = ApprovalDecision(request=request, sequence=len(previous) + 1, authority=authority, decided_by=user,
                           decision=decision, justification=justification, ip=ip, user_agent=user_agent,
                           previous_hash=previous[-1][1] if previous else GENESIS_HASH, decided_at=now)
    row.hash = decision_hash(row, request)
    row.save()
    # A party's approval never counts, should one have been recorded before its parties were (the decide path
    # refuses them today).
    parties = approval_party_ids(request=request)
    approvals = (sum(1 for decided_by, _h, _s, d in previous if d == Decision.APPROVED and decided_by not in parties)
                 + (decision == Decision.APPROVED))
    audit_record(events.APPROVAL_DECIDED, action=decision, target_type="approval_request", target_id=request.pk,
                 after={"decision": decision, "decision_id": str(row.pk), "authority_id": str(authority.pk),
                        "approvals": approvals, "required_approvals": request.required_approvals,
                        "hash": row.hash},
                 reason=justification, actor_id=user.pk, actor_type="admin" if user.is_staff else "user")
    if decision == Decision.REJECTED:
        _finalize(request, Status.REJECTED, now, actor_id=user.pk, reason=justification)
    elif decision == Decision.APPROVED and approvals >= request.required_approvals:
        _finalize(request, Status.APPROVED, now, actor_id=user.pk, reason=justification)
    elif decision == Decision.ESCALATED:
        before = request.required_impact
        request.required_impact = escalate_to
        request._change_reason = "escalated"
        request.save(update_fields=["required_impact"])
        audit_record(events.APPROVAL_ESCALATED, action="escalate", target_type="approval_request",
                     target_id=request.pk, before={"required_impact": before},
                     after={"required_impact": escalate_to}, reason=justification, actor_id=user.pk)
    return ApprovalOutcome(request=request, decision=row, approvals=approvals,
                           required_approvals=request.required_approvals, final=request.is_final)


# --- expiry and callbacks -----------------------------------------------------------------------------------------


def approval_requests_expire(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Expire pending requests past their expiry (the scheduled job). Final and fail-closed: the waiting work is
    told ``on_rejected`` and never runs. Returns how many expired."""
    total = 0
    while True:
        with transaction.atomic():
            moment = now or timezone.now()
            due = list(ApprovalRequest.objects.select_for_update(skip_locked=True)
                       .filter(status=Status.PENDING, expires_at__lte=moment).order_by("expires_at")[:batch_size])
            for request in due:
                _finalize(request, Status.EXPIRED, moment, reason="expired undecided")
        total += len(due)
        if len(due) < batch_size:
            return total


def approval_callback_deliver(*, request_id: uuid.UUID) -> bool:
    """Tell the waiting work of a decided request's outcome, once: True when delivered now, False when there was
    nothing to do (already delivered, still pending, no callback). A callback that raises leaves the request
    undelivered, for the job to retry."""
    with transaction.atomic():
        request = ApprovalRequest.objects.select_for_update().filter(pk=request_id).first()
        if request is None or not request.callback or request.callback_delivered_at or not request.is_final:
            return False
        registered = approval_callback(request.callback)
        if registered is None:
            raise LookupError(f"no approval callback registered under {request.callback!r}")
        if request.status == Status.APPROVED:
            registered.on_approved(request)
        else:
            registered.on_rejected(request)
        request.callback_delivered_at = timezone.now()
        request._change_reason = "callback delivered"
        request.save(update_fields=["callback_delivered_at"])
        audit_record(events.APPROVAL_CALLBACK_DELIVERED, action="callback", target_type="approval_request",
                     target_id=request.pk, metadata={"callback": request.callback, "status": request.status},
                     actor_type="system")
        return True


# --- verification -------------------------------------------------------------------------------------------------


@dataclass
class ApprovalVerification(Check):
    """The integrity registry's ``Check`` of the approval decisions; each problem names its decision and request
    (``problem.decision_id``, ``problem.request_id``)."""

    def summary(self) -> str:
        if self.ok:
            return f"approval_decisions: {self.checked} decisions verified, every hash matches"
        return (f"approval_decisions: {len(self.problems)} problem(s) in {self.checked} decisions; first: "
                f"{self.problems[0]}")


_BROKEN_DECISION = {GAP: "sequence {sequence}, expected {expected} (a decision is missing)",
                    LINK_BROKEN: "previous_hash does not match the request's previous decision",
                    CONTENT_ALTERED: "hash does not match the decision's content (altered decision or request)"}


def approval_decisions_verify(*, batch_size: int = 2000) -> ApprovalVerification:
    """Recompute every decision's hash from its row and its request, check each request's chain (sequence 1,
    2, … and ``previous_hash``), and that no decision was taken by one of its request's parties."""
    report = ApprovalVerification()
    by_party = ApprovalParty.objects.filter(request_id=OuterRef("request_id"), user_id=OuterRef("decided_by_id"))
    rows = (ApprovalDecision.objects.select_related("request").annotate(by_party=Exists(by_party))
            .order_by("request_id", "sequence"))
    last_request, expected_sequence, previous = None, 1, GENESIS_HASH
    for row in rows.iterator(chunk_size=batch_size):
        if row.request_id != last_request:
            last_request, expected_sequence, previous = row.request_id, 1, GENESIS_HASH
        report.checked += 1
        problem = None
        kind = link_kind(row, expected_sequence, previous, lambda v, row=row: decision_hash(row, row.request, v))
        if kind is not None:
            problem = _BROKEN_DECISION[kind].format(sequence=row.sequence, expected=expected_sequence)
        elif row.by_party or row.decided_by_id == row.request.requested_by:
            problem = "decided by a person on whose behalf the request acts (self-approval)"
        if problem:
            report.fail(f"decision {row.pk} of request {row.request_id}", problem, decision_id=str(row.pk),
                        request_id=str(row.request_id))
        expected_sequence, previous = row.sequence + 1, row.hash
    return report
