"""The ``reconcile`` job: compare, report, never fix.

1. Ledger against balances: the ledger invariant over every account (``billing.verification``).
2. Local intents against the provider: every Stripe intent updated in the last ``since_days`` days is fetched and
   compared (status and amount).

Each difference becomes a ``BILLING_RECONCILE_DIFFERENCE`` audit event and a warning in the log; a summary
``BILLING_RECONCILED`` event closes the run. Nothing is corrected: a person decides what a difference means.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from billing import events, stripe_client
from billing.errors import ProviderError
from billing.models import PaymentIntent, Provider
from billing.verification import ledger_check

logger = logging.getLogger("prostqs.billing.reconcile")

MAX_DIFFERENCES_RECORDED = 1000


@dataclass(frozen=True)
class Difference:
    kind: str  # "ledger" or "provider"
    target_type: str
    target_id: str
    message: str


@dataclass
class ReconcileReport:
    accounts: int = 0
    entries: int = 0
    intents_checked: int = 0
    differences: list[Difference] = field(default_factory=list)


def _compare_intent(intent: PaymentIntent) -> str | None:
    remote = stripe_client.payment_intent_retrieve(intent.stripe_intent_id)
    if remote.amount != intent.amount:
        return f"amount {intent.amount} here, {remote.amount} at the provider"
    credited = intent.status in (PaymentIntent.Status.CONFIRMED, PaymentIntent.Status.DISPUTED)
    if remote.status == "succeeded" and not credited:
        return f"succeeded at the provider but {intent.status} here (event missed?)"
    if credited and remote.status != "succeeded":
        return f"{intent.status} here but {remote.status} at the provider"
    return None


def reconcile_run(*, since_days: int = 7) -> ReconcileReport:
    report = ReconcileReport()
    ledger = ledger_check()
    report.accounts, report.entries = ledger.accounts, ledger.entries
    for problem in ledger.problems:
        report.differences.append(Difference("ledger", "billing_account", problem.account_id, problem.detail))

    if stripe_client.is_configured():
        since = timezone.now() - timedelta(days=since_days)
        intents = (PaymentIntent.objects.filter(provider=Provider.STRIPE, updated_at__gte=since)
                   .exclude(stripe_intent_id=None).order_by("created_at").iterator(chunk_size=500))
        for intent in intents:
            report.intents_checked += 1
            try:
                message = _compare_intent(intent)
            except ProviderError as exc:
                message = f"could not be fetched from the provider: {exc.message}"
            if message:
                report.differences.append(Difference("provider", "payment_intent", str(intent.pk), message))

    with transaction.atomic():
        for difference in report.differences[:MAX_DIFFERENCES_RECORDED]:
            logger.warning("reconcile: %s %s: %s", difference.target_type, difference.target_id, difference.message)
            audit_record(events.BILLING_RECONCILE_DIFFERENCE, action=difference.kind,
                         target_type=difference.target_type, target_id=difference.target_id,
                         metadata={"message": difference.message}, actor_type="system")
        audit_record(events.BILLING_RECONCILED, action="reconcile", actor_type="system",
                     metadata={"accounts": report.accounts, "entries": report.entries,
                               "intents_checked": report.intents_checked,
                               "differences": len(report.differences)})
    return report
