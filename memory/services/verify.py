"""Verify the lifecycle transition chains: every hash recomputed, every link and sequence checked, and each
lifecycle's state equal to where its chain ends."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.integrity.chain import CONTENT_ALTERED, GAP, LINK_BROKEN, link_kind
from core.integrity.registry import Check
from memory.models import DecisionLifecycle, LifecycleTransition
from memory.transition_hash import GENESIS_HASH, transition_hash


@dataclass
class ChainReport(Check):
    """The integrity registry's ``Check`` of the lifecycle chains, with how many lifecycles they covered."""

    lifecycles: int = 0

    def summary(self) -> str:
        if self.ok:
            return (f"lifecycle_transitions: {self.checked} transitions of {self.lifecycles} decisions verified, "
                    f"every chain intact")
        return (f"lifecycle_transitions: {len(self.problems)} problem(s) in {self.checked} transitions; first: "
                f"{self.problems[0]}")


_BROKEN = {GAP: "sequence {sequence}, expected {expected} (a transition is missing)",
           LINK_BROKEN: "link broken: previous_hash is not the hash of the transition before",
           CONTENT_ALTERED: "content altered: the row no longer hashes to its hash"}


def verify_lifecycle_chains(*, progress: Callable[[int], None] | None = None, batch_size: int = 2000
                            ) -> ChainReport:
    """Walk every decision's transitions in sequence order (streamed in chunks): the first transition opens the
    lifecycle (∅ → active) on the genesis hash, sequences run 1, 2, … without gaps, each ``previous_hash`` is the
    hash before it and each ``hash`` matches the row's content. Each lifecycle's ``state`` must be the ``to_state``
    of its last transition, and no lifecycle may lack transitions: the lifecycles are read alongside, in the same
    ``decision_id`` order, so memory stays flat however many decisions there are. ``progress`` is called with the
    number checked so far, every ``batch_size`` rows. Problems name the transition (or lifecycle) and why."""
    report = ChainReport()
    lifecycles = iter(DecisionLifecycle.objects.order_by("decision_id").values_list("decision_id", "state")
                      .iterator(chunk_size=batch_size))
    pending = [next(lifecycles, None)]  # the next lifecycle not yet matched with its chain

    def settle(decision_id, end_state) -> None:
        """Match the lifecycles up to ``decision_id`` (None: all the rest) with the chain that just ended."""
        while pending[0] is not None and (decision_id is None or pending[0][0] <= decision_id):
            lifecycle_id, state = pending[0]
            report.lifecycles += 1
            if lifecycle_id != decision_id:
                report.fail(f"lifecycle of decision {lifecycle_id}", "no transitions")
            elif state != end_state:
                report.fail(f"lifecycle of decision {lifecycle_id}", f"state {state!r} but its chain ends at "
                                                                      f"{end_state!r} (state changed outside the "
                                                                      "transition service)")
            pending[0] = next(lifecycles, None)

    rows = LifecycleTransition.objects.order_by("decision_id", "sequence")
    current, expected, previous, end_state = None, 1, GENESIS_HASH, None
    for row in rows.iterator(chunk_size=batch_size):
        if row.decision_id != current:
            if current is not None:
                settle(current, end_state)
            current, expected, previous = row.decision_id, 1, GENESIS_HASH
        report.checked += 1
        where = f"transition {row.pk} (decision {row.decision_id}, sequence {row.sequence})"
        problem = None
        kind = link_kind(row, expected, previous, lambda v, row=row: transition_hash(row, row.previous_hash, v))
        if kind is not None:
            problem = _BROKEN[kind].format(sequence=row.sequence, expected=expected)
        elif row.sequence == 1 and (row.from_state or row.to_state != "active"):
            problem = "the first transition must open the lifecycle (∅ → active)"
        if problem:
            report.fail(where, problem)
        expected, previous, end_state = row.sequence + 1, row.hash, row.to_state
        if progress is not None and report.checked % batch_size == 0:
            progress(report.checked)
    if current is not None:
        settle(current, end_state)
    settle(None, None)
    if progress is not None:
        progress(report.checked)
    return report
