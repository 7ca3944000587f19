"""Verify the lifecycle transition chains: every hash recomputed, every link and sequence checked, and each
lifecycle's state equal to where its chain ends."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from governance.memory_hash import GENESIS_HASH, transition_hash
from governance.models import DecisionLifecycle, LifecycleTransition


@dataclass
class ChainReport:
    checked: int = 0
    lifecycles: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ok:
            return (f"lifecycle_transitions: {self.checked} transitions of {self.lifecycles} decisions verified, "
                    f"every chain intact")
        return (f"lifecycle_transitions: {len(self.problems)} problem(s) in {self.checked} transitions; first: "
                f"{self.problems[0]}")


def verify_lifecycle_chains(*, progress: Callable[[int], None] | None = None, batch_size: int = 2000
                            ) -> ChainReport:
    """Walk every decision's transitions in sequence order (streamed in chunks): the first transition opens the
    lifecycle (∅ → active) on the genesis hash, sequences run 1, 2, … without gaps, each ``previous_hash`` is the
    hash before it and each ``hash`` matches the row's content. Then each lifecycle's ``state`` must be the
    ``to_state`` of its last transition, and no lifecycle may lack transitions. ``progress`` is called with the
    number checked so far, every ``batch_size`` rows. Problems name the transition (or lifecycle) and why."""
    report = ChainReport()
    ends: dict[str, str] = {}
    rows = LifecycleTransition.objects.order_by("decision_id", "sequence")
    current, expected, previous = None, 1, GENESIS_HASH
    for row in rows.iterator(chunk_size=batch_size):
        key = str(row.decision_id)
        if key != current:
            current, expected, previous = key, 1, GENESIS_HASH
        report.checked += 1
        where = f"transition {row.pk} (decision {key}, sequence {row.sequence})"
        problem = None
        if row.sequence != expected:
            problem = f"sequence {row.sequence}, expected {expected} (a transition is missing)"
        elif row.previous_hash != previous:
            problem = "link broken: previous_hash is not the hash of the transition before"
        elif transition_hash(row, row.previous_hash) != row.hash:
            problem = "content altered: the row no longer hashes to its hash"
        elif row.sequence == 1 and (row.from_state or row.to_state != "active"):
            problem = "the first transition must open the lifecycle (∅ → active)"
        if problem:
            report.problems.append(f"{where}: {problem}")
        expected, previous = row.sequence + 1, row.hash
        ends[key] = row.to_state
        if progress is not None and report.checked % batch_size == 0:
            progress(report.checked)
    for decision_id, state in DecisionLifecycle.objects.order_by("decision_id").values_list("decision_id", "state") \
            .iterator(chunk_size=batch_size):
        report.lifecycles += 1
        end = ends.get(str(decision_id))
        if end is None:
            report.problems.append(f"lifecycle of decision {decision_id}: no transitions")
        elif end != state:
            report.problems.append(f"lifecycle of decision {decision_id}: state {state!r} but its chain ends at "
                                   f"{end!r} (state changed outside the transition service)")
    if progress is not None:
        progress(report.checked)
    return report
