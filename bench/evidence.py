"""Cross-verification speed: ``console.evidence`` over 100,000 ledger entries and their audit events.

The entries are posted through ``ledger_post`` (each stages its ``LEDGER_ENTRY_POSTED`` event, as in production) on
1,000 accounts, then chained; the measure is one ``verify_rows`` pass over every entry (keyset batches of rows, their
events by the ``(target_type, target_id)`` index, the count of events for the reverse check), in rows per second.
"""
from __future__ import annotations

import time

from bench.harness import Context, measure

ENTRIES = 100_000
ACCOUNTS = 1_000


def _prefill(ctx: Context) -> None:
    if ctx.state.get("evidence_prefilled"):
        return
    from django.conf import settings
    from django.db import transaction

    from audit.services import audit_sequence
    from billing.models import BillingAccount, LedgerEntry
    from billing.services.ledger import ledger_post
    from identity.models import User

    missing = ENTRIES - LedgerEntry.objects.count()
    if missing > 0:
        users = User.objects.bulk_create([User(username=f"bench-evidence-{n}-{time.monotonic_ns()}")
                                          for n in range(ACCOUNTS)], batch_size=1000)
        accounts = BillingAccount.objects.bulk_create([BillingAccount(user=u) for u in users], batch_size=1000)
        sequence_on_commit, settings.AUDIT_SEQUENCE_ON_COMMIT = settings.AUDIT_SEQUENCE_ON_COMMIT, False
        try:
            for start in range(0, missing, 1000):
                with transaction.atomic():
                    for n in range(start, min(missing, start + 1000)):
                        ledger_post(account_id=accounts[n % ACCOUNTS].pk, type="credit", amount=1 + n % 100,
                                    description="bench", reference_id=f"bench:{n}")
                audit_sequence()
        finally:
            settings.AUDIT_SEQUENCE_ON_COMMIT = sequence_on_commit
    ctx.state["evidence_prefilled"] = True


@measure("evidence_ledger_100k", unit="rows/s", group="audit",
         description="verify_all's evidence_ledger_entries over 100,000 ledger entries and their audit events")
def evidence_ledger_100k(ctx: Context) -> float:
    from console.evidence import specs, verify_rows

    _prefill(ctx)
    started = time.perf_counter()
    result = verify_rows(specs()["ledger_entries"])
    seconds = time.perf_counter() - started
    if not result.ok:
        raise RuntimeError(f"the bench ledger does not verify: {result.problems[:3]}")
    return result.checked / seconds
