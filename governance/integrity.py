"""The governance app's integrity verifier (registered when the app is ready): the chains of approval decisions."""
from __future__ import annotations

from core.integrity.registry import Check, register
from governance.services.approvals import approval_decisions_verify


@register("approval_decisions")
def verify_approval_decisions() -> Check:
    """Every approval decision's hash and each request's chain of decisions."""
    return approval_decisions_verify()
