"""Many real connections spending at once: the budget, the tenant's caps and one idempotency key all hold."""
from collections import Counter

import pytest
from django.core.management import call_command
from django.db import connections

from ads.models import AdBudget, AdCampaign, AdSpendEvent, AdTenantDailySpend
from ads.services import ad_limits_set, campaign_pause, campaign_spend
from billing.models import BillingAccount, LedgerEntry
from core.errors import ServiceError
from tests.ads.conftest import make_setup_now, snapshot
from tests.billing.helpers import in_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 8


def _spend_many(setups, attempts: int, amount: int, *, key=None):
    """``attempts`` spends spread over THREADS connections; returns a Counter of outcomes (applied / codes)."""

    def worker(i):
        outcomes = Counter()
        for n in range(i, attempts, THREADS):
            setup = setups[n % len(setups)]
            try:
                campaign_spend(campaign_id=setup.campaign.pk, amount=amount, quantity=1, unit="click",
                               idempotency_key=key(n) if key else "")
                outcomes["applied"] += 1
            except ServiceError as exc:
                outcomes[exc.code] += 1
        return outcomes

    return sum(in_threads(THREADS, worker), Counter())


def test_500_parallel_spends_on_a_budget_that_fits_100_apply_exactly_100(capsys):
    setup = make_setup_now(balance=1_000_000, amount_total=100 * 250)

    outcomes = _spend_many([setup], 500, 250)

    setup.refresh()
    applied = AdSpendEvent.objects.filter(status="applied")
    # Refused once the budget is full: as exhausted, or (once the exhaustion paused it) as a stopped campaign.
    assert outcomes["applied"] == 100
    assert set(outcomes) - {"applied"} <= {"budget_exhausted", "campaign_not_active"}
    assert sum(outcomes.values()) == 500
    assert applied.count() == 100
    assert AdSpendEvent.objects.filter(status="failed").count() == 400
    assert setup.budget.amount_spent == setup.budget.amount_total == 25_000
    assert setup.budget.status == "exhausted" and setup.campaign.status == "paused"
    assert setup.campaign.total_spent == 25_000
    # Every applied spend has exactly one ledger entry, and the ledger holds nothing else of ours.
    entries = LedgerEntry.objects.filter(type="debit", account_id=setup.account.balance_account_id)
    assert entries.count() == 100
    assert sorted(e.reference_id for e in entries) == sorted(f"ad_spend:{e.pk}" for e in applied)
    assert set(applied.values_list("ledger_entry_id", flat=True)) == set(entries.values_list("pk", flat=True))
    assert BillingAccount.objects.get(pk=setup.account.balance_account_id).balance == 1_000_000 - 25_000
    assert AdTenantDailySpend.objects.get(tenant_id=setup.tenant.id).amount_spent == 25_000
    call_command("ledger_verify")  # CommandError (exit status 1) on any broken invariant
    assert "OK" in capsys.readouterr().out


def test_the_tenant_daily_cap_holds_across_campaigns_under_concurrency():
    first = make_setup_now(balance=1_000_000, amount_total=1_000_000)
    second = make_setup_now(tenant=first.tenant, balance=1_000_000, amount_total=1_000_000)
    ad_limits_set(tenant_id=first.tenant.id, max_spend_per_day=3_000, reason="cap")

    outcomes = _spend_many([first, second], 80, 100)

    assert outcomes == Counter({"applied": 30, "tenant_daily_limit": 50})
    spent = AdCampaign.objects.filter(pk__in=[first.campaign.pk, second.campaign.pk]).values_list("total_spent",
                                                                                                   flat=True)
    assert sum(spent) == 3_000
    assert AdTenantDailySpend.objects.get(tenant_id=first.tenant.id).amount_spent == 3_000
    assert LedgerEntry.objects.filter(type="debit").count() == 30
    call_command("ledger_verify")


def test_a_refused_spend_in_its_own_transaction_writes_only_the_failed_event(halt):
    setup = make_setup_now()
    ad_limits_set(tenant_id=setup.tenant.id, max_spend_per_day=100, reason="cap")
    campaign_spend(campaign_id=setup.campaign.pk, amount=100, quantity=1, unit="click")
    before = snapshot()

    with pytest.raises(ServiceError) as caught:
        campaign_spend(campaign_id=setup.campaign.pk, amount=1, quantity=1, unit="click")
    halt("ads")
    with pytest.raises(ServiceError) as halted:
        campaign_spend(campaign_id=setup.campaign.pk, amount=1, quantity=1, unit="click")

    after = snapshot()
    assert (caught.value.code, halted.value.code) == ("tenant_daily_limit", "kill_switch_active")
    changed = {k: after["counts"][k] - before["counts"][k] for k in after["counts"]
               if after["counts"][k] != before["counts"][k]}
    # Two failed events and the audit events (chained after commit) of the refusals and of the switch the test
    # flipped itself (infrastructure rows).
    assert changed.pop("ads.AdSpendEvent") == 2
    assert changed.pop("audit.AuditEvent") >= 2
    changed.pop("audit.StagedEvent", None)
    assert {k: v for k, v in changed.items() if not k.startswith("infrastructure.")} == {}
    for part in ("balances", "budgets", "campaigns", "daily"):
        assert after[part] == before[part], part


def test_50_parallel_spends_with_one_idempotency_key_apply_once():
    setup = make_setup_now(balance=100_000, amount_total=100_000)

    outcomes = _spend_many([setup], 50, 700, key=lambda n: "the-one-key")

    setup.refresh()
    assert outcomes == Counter({"applied": 50})  # every caller gets the one applied spend back
    assert AdSpendEvent.objects.count() == 1
    assert setup.budget.amount_spent == 700
    assert LedgerEntry.objects.filter(type="debit").count() == 1


def test_spends_pauses_and_a_due_rollover_racing_do_not_deadlock(clock):
    setups = [make_setup_now(balance=1_000_000, amount_total=5_000, period="daily") for _ in range(2)]
    clock.advance(days=1)  # every budget's day is over: the first spend of each rolls it over inline

    def worker(i):
        setup = setups[i % 2]
        done = 0
        for n in range(30):
            try:
                if i == 7 and n == 20:
                    campaign_pause(campaign_id=setup.campaign.pk)
                campaign_spend(campaign_id=setup.campaign.pk, amount=100, quantity=1, unit="click")
                done += 1
            except ServiceError as exc:
                assert exc.code in ("budget_exhausted", "campaign_not_active"), exc.code
        connections.close_all()
        return done

    applied = sum(in_threads(THREADS, worker))
    for setup in setups:
        setup.refresh()
        successor = AdBudget.objects.get(previous_budget=setup.budget)
        assert setup.budget.closed_at is not None and setup.budget.amount_spent == 0
        assert setup.campaign.budget_id == successor.pk
        assert successor.amount_spent == setup.campaign.total_spent
    assert AdBudget.objects.count() == 4  # one new period each, however many spends raced for it
    assert applied == AdSpendEvent.objects.filter(status="applied").count()
    call_command("ledger_verify")


def test_parallel_http_requests_with_one_idempotency_key_spend_once():
    setup = make_setup_now(balance=100_000, amount_total=100_000)
    path = f"/api/v1/ads/campaigns/{setup.campaign.pk}/spend"

    def worker(i):
        response = setup.tenant.client().post(path, {"amount": 900, "quantity": 3, "unit": "click"}, format="json",
                                              HTTP_IDEMPOTENCY_KEY="http-key")
        return response.status_code, response.json()

    answers = in_threads(THREADS, worker)

    applied = [body for status, body in answers if status == 201]
    assert applied and all(body == applied[0] for body in applied)
    assert all(status == 201 or body["error"]["code"] == "idempotency_in_progress" for status, body in answers)
    assert AdSpendEvent.objects.count() == 1
    assert LedgerEntry.objects.filter(type="debit").count() == 1
    setup.refresh()
    assert setup.budget.amount_spent == 900
