"""Institutional memory in the console: the one place the console reads precedents and conflicts
(``governance.selectors.approval_memory`` and ``unresolved_conflicts``)."""
from __future__ import annotations

from typing import Any


def approval_memory_for(request) -> dict[str, list[Any]]:
    """``{"precedents": [{"score", "precedent"}, ...], "conflicts": [DecisionConflict, ...]}`` for a request."""
    from governance.selectors import approval_memory

    return approval_memory(request=request)


def unresolved_conflict_count() -> int:
    from governance.selectors import unresolved_conflicts

    return unresolved_conflicts().count()
