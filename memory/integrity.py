"""Institutional memory's integrity verifier (registered when the app is ready): the chains of decision lifecycle
transitions."""
from __future__ import annotations

from core.integrity.registry import Check, register
from memory.services import verify_lifecycle_chains as verify


@register("lifecycle_chains")
def verify_lifecycle_chains(progress=None) -> Check:
    """Every decision lifecycle's chain of transitions, and each lifecycle's state where its chain ends."""
    return verify(progress=progress)
