"""The governance app's integrity verifiers (registered when the app is ready): the chains of approval decisions and
of decision lifecycle transitions."""
from __future__ import annotations

from core.integrity.registry import Check, register


@register("approval_decisions")
def verify_approval_decisions() -> Check:
    """Every approval decision's hash and each request's chain of decisions."""
    from governance.services.approvals import approval_decisions_verify

    return approval_decisions_verify()


@register("lifecycle_chains")
def verify_lifecycle_chains(progress=None) -> Check:
    """Every decision lifecycle's chain of transitions, and each lifecycle's state where its chain ends."""
    from governance.services.memory import verify_lifecycle_chains as verify

    return verify(progress=progress)
