"""Institutional memory in the console: the one place the console reads precedents and conflicts
(``memory.selectors.approval_memory`` and ``unresolved_conflicts``)."""
from __future__ import annotations

from typing import Any


def approval_memory_for(request) -> dict[str, list[Any]]:
    """``{"precedents": [{"score", "precedent"}, ...], "conflicts": [DecisionConflict, ...]}`` for a request."""
    from memory.selectors import approval_memory

    return approval_memory(request=request)


def unresolved_conflict_count() -> int:
    from memory.selectors import unresolved_conflicts

    return unresolved_conflicts().count()
