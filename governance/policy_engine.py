"""The policy engine's core: policies compiled once, an ordered lookup by (resource, action), first match decides.

Order: highest ``priority`` first; on equal priority ``deny`` before ``require_approval`` before ``allow``; then by
name. Candidates are the active policies whose resource and action are the asked ones or ``*``. The first
candidate whose conditions all hold decides; without one, the configured default effect decides.

Compiled sets are cached per process (``policy_cache``). A change made through the services drops this process's
set at once; until the changing transaction commits, that transaction evaluates its own uncommitted view without
sharing it (so a rollback never leaves a phantom policy behind), and the commit drops the set again. Other
processes notice within ``POLICY_CACHE_CHECK_MS`` because each checks, at most once per interval, a fingerprint of
the ``policies`` table (row count, sum of versions, latest update) in one small aggregate query. Every saved change
raises the sum of versions, so the fingerprint changes whatever order concurrent changes commit in.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Max, Sum

from governance import conf
from governance.conditions import CompiledCondition, compile_conditions, resolve
from governance.models.policies import EFFECT_RANK, EFFECT_RESULT, Policy, PolicyResult

# How many distinct (resource, action) candidate lists one compiled set remembers.
_MEMO_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    id: uuid.UUID
    name: str
    version: int | None  # None for a draft in a dry run
    history_id: int | None
    resource: str
    action: str
    effect: str
    reason: str
    priority: int
    conditions: tuple[CompiledCondition, ...]

    @property
    def sort_key(self) -> tuple[int, int, str]:
        return (-self.priority, EFFECT_RANK[self.effect], self.name)

    def summary(self) -> dict[str, Any]:
        return {"id": str(self.id), "name": self.name, "version": self.version, "priority": self.priority,
                "effect": self.effect, "resource": self.resource, "action": self.action}


def compile_policy(policy: Policy, *, history_id: int | None = None, draft: bool = False) -> CompiledPolicy:
    return CompiledPolicy(
        id=policy.pk, name=policy.name, version=None if draft else policy.version, history_id=history_id,
        resource=policy.resource, action=policy.action, effect=policy.effect, reason=policy.reason,
        priority=policy.priority, conditions=compile_conditions(policy.conditions or []),
    )


@dataclass(frozen=True, slots=True)
class Skipped:
    policy: CompiledPolicy
    condition: CompiledCondition
    seen: Any
    why: str

    def as_dict(self) -> dict[str, Any]:
        return {**self.policy.summary(), "failed": self.condition.describe(self.seen, self.why)}


@dataclass(frozen=True)
class PolicyDecision:
    """The engine's answer and its explanation.

    ``result`` is ``allowed`` / ``denied`` / ``pending_approval``. ``policy`` is the policy (and version) that
    decided, or None when the default did. ``evaluation_id`` is the stored ``policy_evaluations`` row (None when
    not recorded).
    """

    resource: str
    action: str
    result: str
    effect: str
    reason: str
    policy: CompiledPolicy | None
    matched: tuple[tuple[CompiledCondition, Any], ...]
    skipped: tuple[Skipped, ...]
    not_reached: tuple[CompiledPolicy, ...]
    evaluation_id: uuid.UUID | None = None

    @property
    def allowed(self) -> bool:
        return self.result == PolicyResult.ALLOWED

    @property
    def denied(self) -> bool:
        return self.result == PolicyResult.DENIED

    @property
    def requires_approval(self) -> bool:
        return self.result == PolicyResult.PENDING_APPROVAL

    @property
    def default_applied(self) -> bool:
        return self.policy is None

    @property
    def policy_id(self) -> uuid.UUID | None:
        return self.policy.id if self.policy else None

    @property
    def policy_name(self) -> str:
        return self.policy.name if self.policy else ""

    @property
    def policy_version(self) -> int | None:
        return self.policy.version if self.policy else None

    def explanation(self) -> dict[str, Any]:
        """Which policy decided (and its version), the condition values it saw, and the policies skipped."""
        return {
            "resource": self.resource,
            "action": self.action,
            "result": self.result,
            "effect": self.effect,
            "reason": self.reason,
            "default_applied": self.default_applied,
            "policy": self.policy.summary() if self.policy else None,
            "conditions": [c.describe(seen, None) for c, seen in self.matched],
            "skipped": [s.as_dict() for s in self.skipped],
            "not_reached": [p.summary() for p in self.not_reached],
        }

    def with_evaluation(self, evaluation_id: uuid.UUID) -> PolicyDecision:
        return PolicyDecision(self.resource, self.action, self.result, self.effect, self.reason, self.policy,
                              self.matched, self.skipped, self.not_reached, evaluation_id)


def default_reason(effect: str) -> str:
    return f"No active policy matched; the default effect is {effect}."


@dataclass
class CompiledPolicySet:
    """Active policies in evaluation order, with memoised candidate lists per (resource, action)."""

    policies: tuple[CompiledPolicy, ...]
    generation: tuple | None = None
    default_effect: str | None = None  # None: the configured POLICY_DEFAULT_EFFECT, read at evaluation
    _memo: dict[tuple[str, str], tuple[CompiledPolicy, ...]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, policies: Iterable[CompiledPolicy], *, generation: tuple | None = None,
              default_effect: str | None = None) -> CompiledPolicySet:
        ordered = tuple(sorted(policies, key=lambda p: p.sort_key))
        return cls(ordered, generation, default_effect)

    def candidates(self, resource: str, action: str) -> tuple[CompiledPolicy, ...]:
        key = (resource, action)
        found = self._memo.get(key)
        if found is None:
            found = tuple(p for p in self.policies
                          if (p.resource == resource or p.resource == "*")
                          and (p.action == action or p.action == "*"))
            if len(self._memo) < _MEMO_LIMIT:
                self._memo[key] = found  # a racing thread computes the same tuple: harmless
        return found

    def evaluate(self, resource: str, action: str, context: dict[str, Any]) -> PolicyDecision:
        skipped: list[Skipped] = []
        candidates = self.candidates(resource, action)
        for index, policy in enumerate(candidates):
            matched = []
            for condition in policy.conditions:
                seen = resolve(context, condition.path)
                why = condition.check(seen)
                if why is not None:
                    skipped.append(Skipped(policy, condition, seen, why))
                    break
                matched.append((condition, seen))
            else:
                return PolicyDecision(resource, action, EFFECT_RESULT[policy.effect], policy.effect, policy.reason,
                                      policy, tuple(matched), tuple(skipped), candidates[index + 1:])
        effect = self.default_effect or conf.get().default_effect
        return PolicyDecision(resource, action, EFFECT_RESULT[effect], effect, default_reason(effect), None, (),
                              tuple(skipped), ())


# --- loading and caching ------------------------------------------------------------------------------------------


def policies_fingerprint() -> tuple:
    """Changes with every committed policy change, in whatever order concurrent changes commit."""
    row = Policy.objects.aggregate(n=Count("id"), versions=Sum("version"), latest=Max("updated_at"))
    return (row["n"], row["versions"] or 0, row["latest"])


def history_ids(policies: list[Policy]) -> dict[tuple[uuid.UUID, int], int]:
    """The historical record id of each (policy, version): the newest record of that version."""
    if not policies:
        return {}
    history = Policy.history.model.objects.filter(id__in=[p.pk for p in policies]).order_by("history_id")
    return {(h_id, version): history_id for h_id, version, history_id
            in history.values_list("id", "version", "history_id")}


def load_active(*, exclude: uuid.UUID | None = None) -> list[CompiledPolicy]:
    policies = list(Policy.objects.active().exclude(pk=exclude) if exclude else Policy.objects.active())
    ids = history_ids(policies)
    return [compile_policy(p, history_id=ids.get((p.pk, p.version))) for p in policies]


class PolicyCache:
    """One process's compiled policy set, reloaded when the policies table's fingerprint changes."""

    def __init__(self, *, check_seconds: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._check_seconds = check_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._current: CompiledPolicySet | None = None
        self._next_check = 0.0
        self._local = threading.local()
        self.loads = 0  # how many times this cache compiled the set (tests and the bench read it)

    @property
    def check_seconds(self) -> float:
        return conf.get().cache_check_seconds if self._check_seconds is None else self._check_seconds

    def get(self) -> CompiledPolicySet:
        pending = getattr(self._local, "pending_block", None)
        if pending is not None:
            if connection.in_atomic_block and connection.atomic_blocks[0] is pending:
                # This thread's open transaction changed policies: evaluate its own view, and never share a set
                # that may yet be rolled back.
                return CompiledPolicySet.build(load_active())
            # That transaction is over (committed, or rolled back without telling anyone): start afresh.
            self._local.pending_block = None
            self.invalidate()
        current = self._current
        now = self._clock()
        if current is not None and now < self._next_check:
            return current
        with self._lock:
            current = self._current
            # Read the fingerprint before the policies: a change committing in between makes the next check reload.
            fingerprint = policies_fingerprint()
            if current is None or current.generation != fingerprint:
                current = CompiledPolicySet.build(load_active(), generation=fingerprint)
                self._current = current
                self.loads += 1
            self._next_check = self._clock() + self.check_seconds
            return current

    def invalidate(self) -> None:
        with self._lock:
            self._current = None
            self._next_check = 0.0

    def changed(self) -> None:
        """Called by the services inside the transaction that changes policies."""
        self.invalidate()
        if connection.in_atomic_block:
            self._local.pending_block = connection.atomic_blocks[0]
            transaction.on_commit(self._committed)

    def _committed(self) -> None:
        self._local.pending_block = None
        self.invalidate()


policy_cache = PolicyCache()


def evaluate(resource: str, action: str, context: dict[str, Any], *, cache: PolicyCache | None = None
             ) -> PolicyDecision:
    return (cache or policy_cache).get().evaluate(resource, action, context)
