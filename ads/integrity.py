"""The ads app's integrity verifier (registered when the app is ready): spend totals against the spend events."""
from __future__ import annotations

from django.db.models import F, Q, Sum

from core.integrity.registry import MAX_PROBLEMS_KEPT, Check, register


@register("ad_spend_totals")
def verify_ad_spend_totals() -> Check:
    """Every ad budget's ``amount_spent`` and every campaign's ``total_spent`` equal the sum of their applied
    spend events, and every applied spend event has a ledger debit of the same amount."""
    from ads.models import AdBudget, AdCampaign, AdSpendEvent

    check = Check()
    applied = Q(spend_events__status=AdSpendEvent.Status.APPLIED)
    for model, column in ((AdBudget, "amount_spent"), (AdCampaign, "total_spent")):
        rows = (model.objects.annotate(applied_sum=Sum("spend_events__amount", filter=applied))
                .values_list("pk", column, "applied_sum"))
        for pk, stored, summed in rows.iterator(chunk_size=2000):
            check.checked += 1
            if stored != (summed or 0):
                check.fail(f"{model._meta.db_table} {pk}", f"{column} {stored} but applied spends add up to "
                                                              f"{summed or 0}")
    bad = (AdSpendEvent.objects.filter(status=AdSpendEvent.Status.APPLIED)
           .filter(Q(ledger_entry__isnull=True) | ~Q(ledger_entry__amount=F("amount"))
                   | ~Q(ledger_entry__type="debit")).values_list("pk", flat=True)[:MAX_PROBLEMS_KEPT])
    for pk in bad:
        check.fail(f"applied spend event {pk} has no ledger debit of its amount")
    return check
