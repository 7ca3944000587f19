"""Institutional memory in the console: the one place the console reads precedents and conflicts.

``governance.selectors.approval_memory(request=...)`` gives a request's precedents and conflicts,
``governance.selectors.unresolved_conflicts()`` the conflicts nobody has resolved yet. Until the memory selectors
are installed these helpers answer ``None`` and the console leaves the blocks out.
"""
from __future__ import annotations

from typing import Any


def approval_memory_for(request) -> dict[str, list[Any]] | None:
    """``{"precedents": [...], "conflicts": [...]}`` for one approval request."""
    try:
        from governance.selectors import approval_memory
    except ImportError:
        return None
    return approval_memory(request=request)


def unresolved_conflict_count() -> int | None:
    try:
        from governance.selectors import unresolved_conflicts
    except ImportError:
        return None
    found = unresolved_conflicts()
    return found.count() if hasattr(found, "count") and not isinstance(found, list) else len(found)
