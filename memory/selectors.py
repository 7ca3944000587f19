"""Reads of institutional memory: lifecycles and the decisions in force, similar precedents, unresolved conflicts,
the people a decision acts for, who may decide a decision's reviews, the review inbox and a decision's timeline."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from governance.models import ApprovalParty, ApprovalRequest, Impact
from governance.models.approvals import RequesterType
from governance.models.authorities import ALL_SCOPES
from governance.selectors import authorities_in_force
from memory.models import (
    DecisionConflict,
    DecisionLifecycle,
    DecisionPrecedent,
    DecisionReview,
    DecisionType,
    PrecedentState,
)
from memory.similarity import SimilarPrecedent, precedent_score

PRECEDENT_CANDIDATES = 500


def lifecycle_for(*, decision_id: Any) -> DecisionLifecycle | None:
    try:
        pk = decision_id if isinstance(decision_id, uuid.UUID) else uuid.UUID(str(decision_id))
    except ValueError:
        return None
    return DecisionLifecycle.objects.filter(decision_id=pk).first()


def lifecycles_in_force(*, now: datetime | None = None) -> QuerySet[DecisionLifecycle]:
    """Decisions that stand now: active or under review, and not past their expiry (even before the expiry job
    records it)."""
    return DecisionLifecycle.objects.in_force(now)


def similar_precedents(*, domain: str, action: str, amount: int | None = None, context: Any = None,
                       limit: int = 5) -> list[SimilarPrecedent]:
    """The precedents most like a request, best first: same domain and action (active or contested ones), ranked by
    nearest amount and shared context facts (``score`` 0 to 1; ``SimilarPrecedent``: the precedent, its observed
    ``result``, ``score``, ``amount_similarity``, ``context_similarity``). Memory, not authority: for people to
    read; nothing decides with them."""
    candidates = (DecisionPrecedent.objects
                  .filter(domain=domain, action=action, state__in=[PrecedentState.ACTIVE, PrecedentState.CONTESTED])
                  .order_by("-created_at")[:PRECEDENT_CANDIDATES])
    scored = [precedent_score(p, amount=amount, context=context or {}) for p in candidates]
    scored.sort(key=lambda s: (-s.score, s.precedent.state != PrecedentState.ACTIVE,
                               -s.precedent.created_at.timestamp()))
    return scored[:max(0, int(limit))]


def unresolved_conflicts(*, target_type: str | None = None, target_id: Any = None) -> QuerySet[DecisionConflict]:
    """Conflicts detected or acknowledged, not yet resolved or dissolved; with a target, those where either
    decision acts on it."""
    qs = DecisionConflict.objects.unresolved().select_related("decision_a", "decision_b")
    if target_type:
        target_id = str(target_id or "")
        qs = qs.filter(Q(target_type=target_type, target_id=target_id)
                       | Q(decision_a__target_type=target_type, decision_a__target_id=target_id)
                       | Q(decision_b__target_type=target_type, decision_b__target_id=target_id))
    return qs.order_by("-detected_at")


def lifecycle_parties(*, lifecycle: DecisionLifecycle) -> set[uuid.UUID]:
    """The people on whose behalf a decision in memory acts, who neither review it, resolve its conflicts nor
    record it as a precedent: its tenant (an agent's owner), the ``on_behalf_of`` ids its domain recorded in its
    context, and the parties of the approval request it went through (the request whose reference is the
    decision's id)."""
    parties: set[uuid.UUID] = set()
    if lifecycle.tenant_id:
        parties.add(lifecycle.tenant_id)
    recorded = (lifecycle.context or {}).get("on_behalf_of") if isinstance(lifecycle.context, dict) else None
    for value in recorded if isinstance(recorded, list) else []:
        try:
            parties.add(uuid.UUID(str(value)))
        except ValueError:
            continue
    requests = ApprovalRequest.objects.filter(domain=lifecycle.domain, reference=str(lifecycle.decision_id))
    parties.update(ApprovalParty.objects.filter(request__in=requests).values_list("user_id", flat=True))
    parties.update(r for r in requests.filter(requested_by_type=RequesterType.USER)
                   .values_list("requested_by", flat=True) if r)
    return parties


def approval_memory(*, request: ApprovalRequest) -> dict[str, list]:
    """What the approval screen shows beside a request: the most similar precedents (``similar_precedents``) and
    the unresolved conflicts on the request's target."""
    precedents = similar_precedents(domain=request.domain, action=request.action, amount=request.amount,
                                    context=request.context)
    conflicts = (list(unresolved_conflicts(target_type=request.target_type, target_id=request.target_id))
                 if request.target_type else [])
    return {"precedents": precedents, "conflicts": conflicts}


def review_decide_problem(*, user, lifecycle: DecisionLifecycle, now: datetime | None = None) -> str | None:
    """None when ``user`` may decide reviews of this decision, else why not. Approved decisions: an authority in
    force covering the domain, never held by one of the people on whose behalf the decision acts
    (``lifecycle_parties``: an agent's owners, the account holder…). Authority grants: a super admin, or an
    authority covering every granted domain and reaching the granted impact; never the grantee."""
    if user is None or not user.is_active:
        return _("Sign in as an active person.")
    authorities = list(authorities_in_force(user=user, now=now))
    if lifecycle.decision_type == DecisionType.AUTHORITY_GRANT:
        if lifecycle.subject_id == user.pk:
            return _("Nobody reviews their own authority.")
        if user.is_superuser:
            return None
        scopes = set(lifecycle.scopes or [])
        impact = (lifecycle.context or {}).get("max_impact", Impact.CRITICAL)
        for authority in authorities:
            covers = ALL_SCOPES in authority.scopes or (ALL_SCOPES not in scopes and scopes <= set(authority.scopes))
            if covers and impact in Impact.values and authority.reaches(impact):
                return None
        return _("You need an authority in force covering every domain of this grant and reaching its impact.")
    if user.pk in lifecycle_parties(lifecycle=lifecycle):
        return _("Nobody reviews a decision taken on their behalf (their agent's, or one moving their money).")
    if any(a.covers_domain(lifecycle.domain) for a in authorities):
        return None
    return _("You need a decision authority in force covering the %(d)s domain.") % {"d": lifecycle.domain}


def reviews_due_for(*, user, now: datetime | None = None) -> QuerySet[DecisionReview]:
    """Open reviews of decisions in force that ``user`` may decide, oldest first."""
    if user is None or not getattr(user, "is_active", False):
        return DecisionReview.objects.none()
    now = now or timezone.now()
    open_reviews = (DecisionReview.objects.open().select_related("decision")
                    .filter(decision__in=DecisionLifecycle.objects.in_force(now)))
    ids = [r.pk for r in open_reviews if review_decide_problem(user=user, lifecycle=r.decision, now=now) is None]
    return DecisionReview.objects.filter(pk__in=ids).select_related("decision").order_by("opened_at")


@dataclass(frozen=True)
class MemoryEntry:
    at: datetime
    kind: str  # transition, conflict, review
    title: str
    detail: str = ""


def memory_timeline(*, decision_id: Any) -> list[MemoryEntry]:
    """A decision's memory, oldest first: each lifecycle transition, each conflict it took part in (detected and,
    when closed, how) and each review (opened and, when decided, the outcome)."""
    lifecycle = lifecycle_for(decision_id=decision_id)
    if lifecycle is None:
        return []
    entries = [MemoryEntry(t.created_at, "transition", f"lifecycle: {t.from_state or '∅'} → {t.to_state}",
                           f"{t.triggered_by_type}: {t.reason}")
               for t in lifecycle.transitions.order_by("sequence")]
    conflicts = DecisionConflict.objects.filter(Q(decision_a_id=lifecycle.decision_id)
                                                | Q(decision_b_id=lifecycle.decision_id))
    for c in conflicts.order_by("detected_at"):
        other = c.decision_b_id if c.decision_a_id == lifecycle.decision_id else c.decision_a_id
        entries.append(MemoryEntry(c.detected_at, "conflict", f"{c.conflict_type} conflict with {other}",
                                   c.description))
        if c.acknowledged_at:
            entries.append(MemoryEntry(c.acknowledged_at, "conflict", "conflict acknowledged", c.resolution_note))
        if c.closed_at:
            entries.append(MemoryEntry(c.closed_at, "conflict", f"conflict {c.state}", c.resolution_note))
    for r in lifecycle.reviews.order_by("opened_at"):
        entries.append(MemoryEntry(r.opened_at, "review", f"{r.review_type} review opened", r.review_reason))
        if r.decided_at:
            entries.append(MemoryEntry(r.decided_at, "review", f"review: {r.outcome}", r.justification))
    return sorted(entries, key=lambda e: e.at)
