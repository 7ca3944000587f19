"""Reviews: does a decision in force still stand? Opened on time (``next_review_at``), on a change of context and
on a policy change that would change the decision's outcome (found with the policy dry run); decided by a person
with authority: renewed, revoked, superseded, or kept pending until a later date."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from governance.models import Policy
from governance.services.authorities import authority_revoke
from governance.services.policies import DryRunSample, policy_dry_run
from memory import events
from memory.models import (
    IN_FORCE_STATES,
    DecisionLifecycle,
    DecisionReview,
    DecisionType,
    ExpirationType,
    LifecycleState,
    ReviewOutcome,
    ReviewType,
    TriggerType,
)
from memory.selectors import review_decide_problem
from memory.services.lifecycles import _actor, lifecycle_transition, review_interval

JUSTIFICATION_MIN = 10


def _audit_opened(review: DecisionReview, lifecycle: DecisionLifecycle) -> None:
    audit_record(events.DECISION_REVIEW_OPENED, action="open", target_type="decision_review", target_id=review.pk,
                 after={"decision_id": str(lifecycle.decision_id), "review_type": review.review_type,
                        "outcome": review.outcome,
                        "policy_id": str(review.policy_id) if review.policy_id else None,
                        "policy_version": review.policy_version},
                 reason=review.review_reason, policy_id=review.policy_id,
                 **_actor(review.triggered_by, review.triggered_by_type))


@transaction.atomic
def review_open(*, decision_id: Any, review_type: str, reason: str, triggered_by: uuid.UUID | None = None,
                triggered_by_type: str = TriggerType.SYSTEM, policy: Policy | None = None,
                now: datetime | None = None) -> DecisionReview:
    """Open a review of a decision in force (409 ``decision_not_in_force`` otherwise) and put an active decision
    under review. A decision has at most one open review: asking again returns the open one."""
    if review_type not in ReviewType.values:
        raise InvalidInput(fields={"review_type": [_("One of %(s)s.") % {"s": ", ".join(ReviewType.values)}]})
    if not isinstance(reason, str) or len(reason.strip()) < 3:
        raise InvalidInput(fields={"reason": [_("Say why (at least 3 characters).")]})
    now = now or timezone.now()
    lifecycle = DecisionLifecycle.objects.select_for_update().filter(decision_id=decision_id).first()
    if lifecycle is None:
        raise NotFound(_("No lifecycle for this decision."), code="lifecycle_not_found")
    if not lifecycle.is_in_force(now):
        raise Conflict(_("This decision is %(s)s: it no longer stands.") % {"s": lifecycle.state},
                       code="decision_not_in_force")
    existing = DecisionReview.objects.open().filter(decision_id=lifecycle.decision_id).first()
    if existing is not None:
        return existing
    review = DecisionReview(decision_id=lifecycle.decision_id, review_type=review_type,
                            review_reason=reason.strip()[:4000], triggered_by=triggered_by,
                            triggered_by_type=triggered_by_type, policy=policy,
                            policy_version=policy.version if policy is not None else None, opened_at=now)
    try:
        with transaction.atomic():
            review.save(force_insert=True)
    except IntegrityError:  # the lifecycle lock makes this unreachable short of a bug; the index still holds
        return DecisionReview.objects.open().get(decision_id=lifecycle.decision_id)
    _audit_opened(review, lifecycle)
    if lifecycle.state == LifecycleState.ACTIVE:
        lifecycle_transition(decision_id=lifecycle.decision_id, to_state=LifecycleState.UNDER_REVIEW,
                             triggered_by=triggered_by, triggered_by_type=triggered_by_type,
                             reason=_("%(t)s review: %(r)s") % {"t": review_type, "r": review.review_reason},
                             now=now)
    return review


def _future(value: Any, name: str, now: datetime) -> datetime:
    if not isinstance(value, datetime) or value <= now:
        raise InvalidInput(fields={name: [_("A date and time in the future.")]})
    return value


@dataclass(frozen=True)
class ReviewDecision:
    review: DecisionReview
    lifecycle: DecisionLifecycle


@transaction.atomic
def review_decide(*, review_id: Any, user, outcome: str, justification: str, superseded_by: Any = None,
                  next_review_at: datetime | None = None, now: datetime | None = None) -> ReviewDecision:
    """Decide an open review — the one path for the console and the API.

    ``renewed``: the decision is active again, next review at ``next_review_at`` (default: the review interval
    from now, for decisions that need reviews). ``revoked``: it no longer stands (an authority grant is revoked
    for real). ``superseded``: replaced by ``superseded_by`` (another decision in force). ``pending``: no decision
    yet; it stays under review and a new review opens at ``next_review_at`` (required). A justification of at
    least 10 characters; 403 without authority; 409 when the review was decided or the decision stopped standing.
    """
    if outcome not in ReviewOutcome.values:
        raise InvalidInput(fields={"outcome": [_("One of %(s)s.") % {"s": ", ".join(ReviewOutcome.values)}]})
    if not isinstance(justification, str) or len(justification.strip()) < JUSTIFICATION_MIN:
        raise InvalidInput(fields={"justification": [_("Explain the decision in at least %(n)d characters.")
                                                     % {"n": JUSTIFICATION_MIN}]})
    justification = justification.strip()
    now = now or timezone.now()
    try:
        pk = uuid.UUID(str(review_id))
    except ValueError:
        pk = None
    review = DecisionReview.objects.filter(pk=pk).first() if pk else None
    if review is None:
        raise NotFound(_("No such review."), code="review_not_found")
    # Lifecycle first, then the review: the order every memory service locks in.
    lifecycle = DecisionLifecycle.objects.select_for_update().get(decision_id=review.decision_id)
    review = DecisionReview.objects.select_for_update().get(pk=review.pk)
    if not review.is_open:
        raise Conflict(_("This review was already decided: %(o)s.") % {"o": review.outcome},
                       code="review_already_decided")
    if not lifecycle.is_in_force(now):
        raise Conflict(_("This decision is %(s)s: it no longer stands.") % {"s": lifecycle.state},
                       code="decision_not_in_force")
    problem = review_decide_problem(user=user, lifecycle=lifecycle, now=now)
    if problem:
        raise Forbidden(problem, code="review_not_allowed")
    if outcome == ReviewOutcome.PENDING:
        next_review_at = _future(next_review_at, "next_review_at", now)
    elif outcome == ReviewOutcome.RENEWED:
        if next_review_at is not None:
            next_review_at = _future(next_review_at, "next_review_at", now)
        elif lifecycle.expiration_type != ExpirationType.EXPIRES_AT:
            next_review_at = now + review_interval()
    review.outcome, review.decided_by, review.decided_at = outcome, user, now
    review.justification, review.next_review_at = justification, next_review_at
    review.save(update_fields=["outcome", "decided_by", "decided_at", "justification", "next_review_at"])
    audit_record(events.DECISION_REVIEW_DECIDED, action=outcome, target_type="decision_review", target_id=review.pk,
                 before={"outcome": ReviewOutcome.PENDING, "state": lifecycle.state},
                 after={"outcome": outcome, "decision_id": str(lifecycle.decision_id),
                        "next_review_at": next_review_at.isoformat() if next_review_at else None,
                        "superseded_by": str(superseded_by) if superseded_by else None},
                 reason=justification, actor_id=user.pk, actor_type="admin" if user.is_staff else "user")
    why = _("review %(o)s by %(u)s: %(j)s") % {"o": outcome, "u": user, "j": justification}
    if outcome in (ReviewOutcome.RENEWED, ReviewOutcome.PENDING):
        DecisionLifecycle.objects.filter(pk=lifecycle.pk).update(next_review_at=next_review_at, updated_at=now)
        if outcome == ReviewOutcome.RENEWED and lifecycle.state == LifecycleState.UNDER_REVIEW:
            lifecycle_transition(decision_id=lifecycle.decision_id, to_state=LifecycleState.ACTIVE,
                                 triggered_by=user.pk, triggered_by_type=TriggerType.HUMAN, reason=why, now=now)
    elif outcome == ReviewOutcome.REVOKED:
        if lifecycle.decision_type == DecisionType.AUTHORITY_GRANT:
            # Revoking the grant ends its lifecycle through the authorities' own hook.
            authority_revoke(authority_id=lifecycle.decision_id, revoked_by=user, reason=why)
        else:
            lifecycle_transition(decision_id=lifecycle.decision_id, to_state=LifecycleState.REVOKED,
                                 triggered_by=user.pk, triggered_by_type=TriggerType.HUMAN, reason=why, now=now)
    else:  # superseded
        if superseded_by is None:
            raise InvalidInput(fields={"superseded_by": [_("Name the decision that replaces this one.")]})
        lifecycle_transition(decision_id=lifecycle.decision_id, to_state=LifecycleState.SUPERSEDED,
                             triggered_by=user.pk, triggered_by_type=TriggerType.HUMAN, reason=why,
                             superseded_by=superseded_by, now=now)
    lifecycle.refresh_from_db()
    return ReviewDecision(review=review, lifecycle=lifecycle)


# --- the triggers -------------------------------------------------------------------------------------------------


def reviews_open_due(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Open a periodic review (triggered by ``time``) for every decision in force whose ``next_review_at`` has
    come and that has no open review. Each opens in its own transaction. Returns how many opened."""
    now = now or timezone.now()
    has_open = DecisionReview.objects.open().filter(decision_id=OuterRef("decision_id"))
    due = list(DecisionLifecycle.objects.in_force(now).filter(next_review_at__lte=now).filter(~Exists(has_open))
               .order_by("next_review_at").values_list("decision_id", "next_review_at")[:batch_size])
    opened = 0
    for decision_id, when in due:
        try:
            review_open(decision_id=decision_id, review_type=ReviewType.PERIODIC, triggered_by_type=TriggerType.TIME,
                        reason=_("periodic review due at %(t)s") % {"t": when.isoformat()}, now=now)
        except Conflict:
            continue  # stopped standing since it was read
        opened += 1
    return opened


def lifecycle_context_changed(*, reason: str, subject_id: Any = None, target_type: str = "", target_id: Any = "",
                              triggered_by: uuid.UUID | None = None,
                              triggered_by_type: str = TriggerType.SYSTEM) -> list[DecisionReview]:
    """Something the decisions rested on changed (their agent was suspended, their target changed hands…): open a
    ``context_change`` review for each decision in force of that subject or on that target (inside the caller's
    transaction)."""
    query = Q(pk__in=[])
    if subject_id:
        query |= Q(subject_id=subject_id)
    if target_type:
        query |= Q(target_type=target_type, target_id=str(target_id))
    ids = list(DecisionLifecycle.objects.in_force().filter(query).values_list("decision_id", flat=True))
    return [review_open(decision_id=decision_id, review_type=ReviewType.CONTEXT_CHANGE, reason=reason,
                        triggered_by=triggered_by, triggered_by_type=triggered_by_type) for decision_id in ids]


@dataclass(frozen=True)
class PolicyImpact:
    """A decision in force whose outcome the policy change would change."""

    decision_id: uuid.UUID
    transition: str  # e.g. "allowed → denied"


def policy_change_impacts(*, policy: Policy) -> list[PolicyImpact]:
    """Before a policy change is saved (``policy`` holds the unsaved change, or is a new active policy): replay the
    policy contexts of the approved decisions in force on its resource and action through the dry run, and list
    those whose outcome would change."""
    original = None if policy._state.adding else Policy.objects.filter(pk=policy.pk).first()
    patterns = {(policy.resource, policy.action)}
    if original is not None:
        patterns.add((original.resource, original.action))
    query = Q(pk__in=[])
    for resource, action in patterns:
        part = Q()
        if resource != "*":
            part &= Q(domain=resource)
        if action != "*":
            part &= Q(action=action)
        query |= part
    lifecycles = (DecisionLifecycle.objects.in_force().filter(query, decision_type=DecisionType.APPROVAL,
                                                              policy_evaluation__isnull=False)
                  .select_related("policy_evaluation"))
    samples = [DryRunSample(ref=str(lc.decision_id), resource=lc.policy_evaluation.resource,
                            action=lc.policy_evaluation.action, context=lc.policy_evaluation.context,
                            recorded_result=lc.policy_evaluation.result) for lc in lifecycles]
    if not samples:
        return []
    report = policy_dry_run(policy=policy, activate=False, samples=samples)
    return [PolicyImpact(uuid.UUID(change.sample.ref), change.transition) for change in report.changed]


def policy_change_reviews_open(*, policy: Policy, impacts: list[PolicyImpact], actor=None) -> list[DecisionReview]:
    """After the change is saved: a ``policy_change`` review for each impacted decision still in force."""
    triggered_by, trigger = (actor.pk, TriggerType.HUMAN) if actor is not None else (None, TriggerType.SYSTEM)
    reviews = []
    for impact in impacts:
        if not DecisionLifecycle.objects.filter(decision_id=impact.decision_id, state__in=IN_FORCE_STATES).exists():
            continue
        reviews.append(review_open(
            decision_id=impact.decision_id, review_type=ReviewType.POLICY_CHANGE, triggered_by=triggered_by,
            triggered_by_type=trigger, policy=policy,
            reason=_("policy %(n)s v%(v)d would change this decision's outcome: %(t)s")
            % {"n": policy.name, "v": policy.version, "t": impact.transition}))
    return reviews
