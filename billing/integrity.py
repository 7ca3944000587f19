"""The billing app's integrity verifier (registered when the app is ready): the ledger invariant of every account."""
from __future__ import annotations

from core.integrity.registry import Check, register


@register("ledger")
def verify_ledger(progress=None) -> Check:
    """Every billing account: balance == credits - debits, an unbroken running sum, last balance_after."""
    from billing.verification import ledger_check

    report = ledger_check(stop_at_first=False, progress=(lambda a, e: progress(a)) if progress else None)
    report.notes.append(f"{report.entries} ledger entries")
    return report
