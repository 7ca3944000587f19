"""Policies: create and change them (every change a new version), evaluate them, dry-run a change."""
from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from audit.services import audit_record
from core.errors import Conflict, InvalidInput, NotFound
from governance import events
from governance.callbacks import PreparedPolicyChange, notify_policy_changed, notify_policy_changing
from governance.jsonvalues import json_ready
from governance.models import Policy, PolicyEvaluation
from governance.policy_engine import (
    CompiledPolicySet,
    PolicyCache,
    PolicyDecision,
    compile_policy,
    load_active,
    policy_cache,
)

EDITABLE_FIELDS = ("name", "resource", "action", "conditions", "effect", "reason", "priority", "active")
DRY_RUN_MAX = 10_000


def _snapshot(policy: Policy) -> dict[str, Any]:
    return {**{f: getattr(policy, f) for f in EDITABLE_FIELDS}, "version": policy.version}


def _canonical(snapshot: dict[str, Any]) -> str:
    # JSON text, so that a change from 1 to true (equal in Python) still counts as a change.
    return json.dumps(snapshot, sort_keys=True, default=str)


def _validation_fields(exc: ValidationError) -> dict[str, list[str]]:
    return {k: [str(m) for m in v] for k, v in exc.message_dict.items()}


def policy_validate(policy: Policy) -> None:
    """Raise InvalidInput (400) with one message per problem field: unknown ops, bad paths, wrong value types,
    names, effect, duplicates."""
    try:
        policy.full_clean()
    except ValidationError as exc:
        raise InvalidInput(_("The policy is not valid."), fields=_validation_fields(exc)) from None


def _changed_policies() -> None:
    # This transaction's own evaluations see the change at once; everyone else's when it commits.
    policy_cache.changed()


def _save(policy: Policy, *, actor, change_reason: str) -> None:
    policy._history_user = actor
    policy._change_reason = change_reason[:100] if change_reason else None
    try:
        with transaction.atomic():
            policy.save()
    except IntegrityError:
        raise Conflict(_("A policy with this name already exists."), code="policy_name_taken",
                       fields={"name": [_("A policy with this name already exists.")]}) from None


@transaction.atomic
def policy_create(
    *,
    name: str,
    resource: str,
    action: str,
    effect: str,
    reason: str,
    conditions: list[dict[str, Any]] | None = None,
    priority: int = 0,
    active: bool = False,
    actor=None,
) -> Policy:
    """Create a policy at version 1. New policies are drafts (inactive) unless ``active`` says otherwise."""
    policy = Policy(name=name, resource=resource, action=action, effect=effect, reason=reason,
                    conditions=[] if conditions is None else conditions, priority=priority, active=active)
    policy_validate(policy)
    prepared = notify_policy_changing(policy=policy) if active else PreparedPolicyChange()
    _save(policy, actor=actor, change_reason="created")
    audit_record(events.POLICY_CREATED, action="create", target_type="policy", target_id=policy.pk,
                 after=_snapshot(policy), policy_id=policy.pk, actor_id=getattr(actor, "pk", None))
    _changed_policies()
    notify_policy_changed(policy=policy, prepared=prepared, actor=actor)
    return policy


@transaction.atomic
def policy_update(*, policy_id: uuid.UUID, actor=None, change_reason: str = "", **changes: Any) -> Policy:
    """Apply ``changes`` (any of name, resource, action, conditions, effect, reason, priority, active) as a new
    version. Evaluations already stored keep pointing at the version that made them. No change, no new version."""
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise InvalidInput(fields={f: [_("This field cannot be changed.")] for f in unknown})
    policy = Policy.objects.select_for_update().filter(pk=policy_id).first()
    if policy is None:
        raise NotFound(_("No such policy."), code="policy_not_found")
    before = _snapshot(policy)
    for key, value in changes.items():
        setattr(policy, key, value)
    if _canonical(before) == _canonical(_snapshot(policy)):
        return policy
    policy.version = before["version"] + 1
    policy_validate(policy)
    # Listeners (institutional memory's dry run of the decisions in force) need the policies as they stand before
    # the change: asked before saving, acted on after.
    prepared = notify_policy_changing(policy=policy)
    _save(policy, actor=actor, change_reason=change_reason or "changed")
    audit_record(events.POLICY_UPDATED, action="update", target_type="policy", target_id=policy.pk, before=before,
                 after=_snapshot(policy), policy_id=policy.pk, reason=change_reason,
                 actor_id=getattr(actor, "pk", None))
    _changed_policies()
    notify_policy_changed(policy=policy, prepared=prepared, actor=actor)
    return policy


def policy_set_active(*, policy_id: uuid.UUID, active: bool, actor=None) -> Policy:
    return policy_update(policy_id=policy_id, active=active, actor=actor,
                         change_reason="activated" if active else "deactivated")


def _check_names(resource: Any, action: Any) -> None:
    problems = {}
    for key, value in (("resource", resource), ("action", action)):
        if not isinstance(value, str) or not value or len(value) > 64 or value == "*":
            problems[key] = [_("A name of at most 64 characters (not the wildcard) is required.")]
    if problems:
        raise InvalidInput(fields=problems)


def policy_evaluate(
    *,
    resource: str,
    action: str,
    context: dict[str, Any],
    actor_id: uuid.UUID | None = None,
    record: bool = True,
    cache: PolicyCache | None = None,
) -> PolicyDecision:
    """Evaluate the active policies for (resource, action) over ``context``; first match decides, else the default.

    With ``record`` (the default) the evaluation is stored in ``policy_evaluations`` inside the caller's
    transaction, naming the policy version that decided, and ``evaluation_id`` is set on the answer.
    """
    _check_names(resource, action)
    if not isinstance(context, dict):
        raise InvalidInput(fields={"context": [_("The context must be a JSON object.")]})
    context = json_ready(context)
    decision = (cache or policy_cache).get().evaluate(resource, action, context)
    if not record:
        return decision
    row = PolicyEvaluation.objects.create(
        policy_id=decision.policy_id,
        policy_name=decision.policy_name,
        policy_version=decision.policy_version,
        policy_history_id=decision.policy.history_id if decision.policy else None,
        resource=resource,
        action=action,
        context=context,
        result=decision.result,
        reason=decision.reason,
        explanation=json_ready(decision.explanation(), field="explanation"),
        default_applied=decision.default_applied,
        actor_id=actor_id,
    )
    return decision.with_evaluation(row.pk)


# --- dry run ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DryRunSample:
    """A context to replay: a stored evaluation, or (for other callers) any decision's context."""

    ref: str
    resource: str
    action: str
    context: dict[str, Any]
    recorded_result: str | None = None
    recorded_at: datetime | None = None


@dataclass(frozen=True)
class DryRunChange:
    sample: DryRunSample
    before: PolicyDecision
    after: PolicyDecision

    @property
    def transition(self) -> str:
        return f"{self.before.result} → {self.after.result}"

    def as_dict(self) -> dict[str, Any]:
        def side(d: PolicyDecision) -> dict[str, Any]:
            return {"result": d.result, "policy": d.policy_name or None, "version": d.policy_version,
                    "default_applied": d.default_applied, "reason": d.reason}

        return {"ref": self.sample.ref, "resource": self.sample.resource, "action": self.sample.action,
                "context": self.sample.context, "recorded_result": self.sample.recorded_result,
                "before": side(self.before), "after": side(self.after)}


@dataclass(frozen=True)
class DryRunReport:
    policy_id: uuid.UUID
    policy_name: str
    base_version: int | None  # the stored version the change starts from; None for a new policy
    evaluated_as_active: bool
    samples: int
    changed: tuple[DryRunChange, ...]
    decided_by_candidate: int

    @property
    def unchanged(self) -> int:
        return self.samples - len(self.changed)

    def transitions(self) -> dict[str, int]:
        return dict(Counter(c.transition for c in self.changed).most_common())

    def as_dict(self) -> dict[str, Any]:
        return {"policy_id": str(self.policy_id), "policy_name": self.policy_name, "base_version": self.base_version,
                "evaluated_as_active": self.evaluated_as_active, "samples": self.samples,
                "unchanged": self.unchanged, "decided_by_candidate": self.decided_by_candidate,
                "transitions": self.transitions(), "changed": [c.as_dict() for c in self.changed]}


def _pattern(resource: str, action: str) -> Q:
    q = Q()
    if resource != "*":
        q &= Q(resource=resource)
    if action != "*":
        q &= Q(action=action)
    return q


def dry_run_samples(*, patterns: Iterable[tuple[str, str]], last_n: int) -> list[DryRunSample]:
    """The last ``last_n`` stored evaluations whose (resource, action) any pattern matches."""
    parts = [_pattern(resource, action) for resource, action in patterns]
    queryset = PolicyEvaluation.objects.all()
    if parts and all(parts):  # an empty Q is a pattern of wildcards only: every evaluation matches
        query = parts[0]
        for part in parts[1:]:
            query |= part
        queryset = queryset.filter(query)
    elif not parts:
        queryset = queryset.none()
    rows = (queryset.order_by("-evaluated_at")
            .values_list("id", "resource", "action", "context", "result", "evaluated_at")[:last_n])
    return [DryRunSample(str(i), r, a, c if isinstance(c, dict) else {}, res, at) for i, r, a, c, res, at in rows]


def policy_dry_run(
    *,
    policy: Policy,
    last_n: int = 100,
    activate: bool = True,
    samples: Iterable[DryRunSample] | None = None,
) -> DryRunReport:
    """Replay recent contexts against the active policies with and without ``policy`` as given (a draft, or an
    unsaved change to a stored policy) and list the outcomes that would change. Nothing is saved.

    ``activate`` evaluates the candidate as active whatever its ``active`` field says (the question asked before
    activating a draft). ``samples`` replaces the default samples: the last ``last_n`` stored evaluations for the
    resource and action of the candidate (and of the stored version it changes).
    """
    if not 1 <= int(last_n) <= DRY_RUN_MAX:
        raise InvalidInput(fields={"last_n": [_("Between 1 and %(max)d.") % {"max": DRY_RUN_MAX}]})
    policy_validate(policy)
    original = None if policy._state.adding else Policy.objects.filter(pk=policy.pk).first()
    baseline = CompiledPolicySet.build(load_active())
    others = load_active(exclude=policy.pk)
    as_active = activate or policy.active
    candidate = compile_policy(policy, draft=True)
    changed_set = CompiledPolicySet.build([*others, candidate] if as_active else others)
    if samples is None:
        patterns = {(policy.resource, policy.action)}
        if original is not None:
            patterns.add((original.resource, original.action))
        samples = dry_run_samples(patterns=patterns, last_n=int(last_n))
    changes, count, by_candidate = [], 0, 0
    for sample in samples:
        count += 1
        before = baseline.evaluate(sample.resource, sample.action, sample.context)
        after = changed_set.evaluate(sample.resource, sample.action, sample.context)
        if after.policy is candidate:
            by_candidate += 1
        if before.result != after.result:
            changes.append(DryRunChange(sample, before, after))
    return DryRunReport(policy_id=policy.pk, policy_name=policy.name,
                        base_version=original.version if original else None, evaluated_as_active=as_active,
                        samples=count, changed=tuple(changes), decided_by_candidate=by_candidate)
