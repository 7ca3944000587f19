"""campaign_spend: applied through the ledger, or refused with its reason and nothing but a failed spend event."""
import pytest
from django.db import transaction

from ads.models import AdBudget, AdCampaign, AdSpendEvent, AdTenantDailySpend
from ads.services import (
    ad_account_set_status,
    ad_limits_kill_switch_activate,
    ad_limits_set,
    budget_dispute,
    campaign_create,
    campaign_pause,
    campaign_spend,
)
from audit.models import StagedEvent
from billing.models import LedgerEntry
from core.errors import ServiceError
from tests.ads.conftest import ONLY_THE_FAILED_EVENT, diff_counts, snapshot

pytestmark = pytest.mark.django_db


def spend(setup, amount=100, **extra):
    return campaign_spend(campaign_id=setup.campaign.pk, amount=amount, quantity=extra.pop("quantity", 10),
                          unit=extra.pop("unit", "click"), **extra)


def refused(setup, code, amount=100, **extra):
    """Spend, expect the refusal ``code``, and check that only the failed event (and its audit) was written."""
    before = snapshot()
    with pytest.raises(ServiceError) as caught:
        spend(setup, amount, **extra)
    after = snapshot()
    assert caught.value.code == code, caught.value.message
    assert diff_counts(before, after) == ONLY_THE_FAILED_EVENT
    for part in ("balances", "budgets", "campaigns", "daily"):
        assert after[part] == before[part], part
    failed = AdSpendEvent.objects.order_by("-created_at").first()
    assert (failed.status, failed.failure_reason, failed.amount, failed.ledger_entry_id) == ("failed", code, amount,
                                                                                               None)
    return caught.value


@pytest.mark.smoke
def test_an_applied_spend_debits_the_ledger_and_raises_budget_campaign_and_day(make_setup):
    setup = make_setup(balance=50_000, amount_total=10_000)

    outcome = spend(setup, 1_234, quantity=1000, unit="impression")

    setup.refresh()
    event = outcome.event
    entry = LedgerEntry.objects.get(pk=event.ledger_entry_id)
    assert (event.status, event.amount, event.quantity, event.unit) == ("applied", 1_234, 1000, "impression")
    assert (entry.type, entry.amount, entry.account_id) == ("debit", 1_234, setup.account.balance_account_id)
    assert entry.reference_id == f"ad_spend:{event.pk}"
    assert entry.balance_after == 50_000 - 1_234
    assert setup.budget.amount_spent == 1_234 and setup.campaign.total_spent == 1_234
    assert outcome.budget_remaining == 10_000 - 1_234 and not outcome.replayed
    assert AdTenantDailySpend.objects.get(tenant_id=setup.tenant.id).amount_spent == 1_234
    assert StagedEvent.objects.filter(type="AD_SPEND_APPLIED", target_id=event.pk).exists()
    assert StagedEvent.objects.filter(type="LEDGER_ENTRY_POSTED", target_id=entry.pk).exists()


def test_spending_the_whole_budget_exhausts_it_and_pauses_its_campaigns(make_setup):
    setup = make_setup(amount_total=1_000)
    other = campaign_create(ad_account_id=setup.account.pk, budget_id=setup.budget.pk, name="second",
                            objective="clicks")
    from ads.services import campaign_activate

    campaign_activate(campaign_id=other.pk)
    draft = campaign_create(ad_account_id=setup.account.pk, budget_id=setup.budget.pk, name="draft",
                            objective="clicks")

    outcome = spend(setup, 1_000)

    setup.refresh()
    assert outcome.budget_remaining == 0
    assert setup.budget.status == AdBudget.Status.EXHAUSTED and setup.budget.amount_spent == 1_000
    for campaign in (setup.campaign, AdCampaign.objects.get(pk=other.pk)):
        assert (campaign.status, campaign.stop_reason) == ("paused", "budget_exhausted")
    assert AdCampaign.objects.get(pk=draft.pk).status == "draft"
    assert StagedEvent.objects.filter(type="AD_BUDGET_EXHAUSTED", target_id=setup.budget.pk).exists()
    assert setup.budget.history.filter(status="exhausted").exists()
    # And the next spend is refused with the campaign stopped.
    refused(setup, "campaign_not_active")


def test_a_spend_larger_than_what_is_left_is_refused_as_budget_exhausted(make_setup):
    setup = make_setup(amount_total=1_000)
    spend(setup, 900)

    error = refused(setup, "budget_exhausted", 101)

    assert error.status == 409 and error.extra["budget_remaining"] == 100
    assert AdBudget.objects.get(pk=setup.budget.pk).status == "active"


def test_a_spend_on_a_paused_or_draft_campaign_is_refused(make_setup):
    setup = make_setup()
    campaign_pause(campaign_id=setup.campaign.pk)
    refused(setup, "campaign_not_active")
    draft = make_setup(activate=False)
    refused(draft, "campaign_not_active")


def test_insufficient_funds_refuses_and_leaves_the_ledger_as_it_was(make_setup):
    setup = make_setup(balance=50, amount_total=10_000)
    error = refused(setup, "insufficient_funds", 51)
    assert error.status == 409


def test_the_tenant_daily_cap_counts_every_campaign_of_the_tenant(make_setup, make_tenant):
    first = make_setup()
    second = make_setup(tenant=first.tenant)
    ad_limits_set(tenant_id=first.tenant.id, max_spend_per_day=1_000, reason="cap")
    spend(first, 600)
    spend(second, 300)

    error = refused(second, "tenant_daily_limit", 101)

    assert error.extra == {"max_spend_per_day": 1_000, "spent_today": 900}
    spend(second, 100)  # exactly up to the cap
    # Another tenant is not affected.
    spend(make_setup(), 5_000)


def test_the_daily_cap_starts_again_the_next_day(make_setup, clock):
    setup = make_setup()
    ad_limits_set(tenant_id=setup.tenant.id, max_spend_per_day=500, reason="cap")
    spend(setup, 500)
    refused(setup, "tenant_daily_limit", 1)

    clock.advance(days=1)

    spend(setup, 500)
    assert sorted(AdTenantDailySpend.objects.filter(tenant_id=setup.tenant.id).values_list("amount_spent",
                                                                                           flat=True)) == [500, 500]


def test_the_per_campaign_cap_counts_the_campaign_total(make_setup):
    setup = make_setup()
    ad_limits_set(tenant_id=setup.tenant.id, max_spend_per_campaign=700, reason="cap")
    spend(setup, 700)
    error = refused(setup, "tenant_campaign_limit", 1)
    assert error.extra == {"max_spend_per_campaign": 700, "campaign_total_spent": 700}


@pytest.mark.parametrize("scope", ["ads", "all", "billing"])
def test_a_global_kill_switch_refuses_with_423(make_setup, halt, scope):
    setup = make_setup()
    halt(scope)
    error = refused(setup, "kill_switch_active")
    assert error.status == 423 and error.extra["scope"] == scope


def test_the_tenant_kill_switch_refuses_only_that_tenant(make_setup):
    setup = make_setup()
    other = make_setup()
    ad_limits_kill_switch_activate(tenant_id=setup.tenant.id, reason="fraud suspected")

    error = refused(setup, "kill_switch_active")

    assert error.status == 423 and error.extra == {"scope": "tenant"}
    assert "fraud suspected" in error.message
    spend(other, 100)


def test_a_suspended_account_and_a_disputed_budget_refuse(make_setup):
    setup = make_setup()
    budget_dispute(budget_id=setup.budget.pk, reason="chargeback on the funding")
    refused(setup, "budget_disputed")
    ad_account_set_status(account_id=setup.account.pk, status="suspended", reason="review")
    refused(setup, "ad_account_suspended")


def test_one_idempotency_key_applies_once(make_setup):
    setup = make_setup(balance=10_000)
    first = spend(setup, 300, idempotency_key="order-1")
    again = spend(setup, 300, idempotency_key="order-1")

    setup.refresh()
    assert again.replayed and again.event.pk == first.event.pk
    assert setup.budget.amount_spent == 300
    assert LedgerEntry.objects.filter(type="debit").count() == 1
    # Another key is another spend; the key is per campaign.
    spend(setup, 300, idempotency_key="order-2")
    assert AdSpendEvent.objects.filter(status="applied").count() == 2


def test_a_refused_key_can_be_retried_and_then_applies_once(make_setup):
    setup = make_setup(balance=100)
    refused(setup, "insufficient_funds", 500, idempotency_key="k")
    from billing.services.ledger import ledger_post

    ledger_post(account_id=setup.account.balance_account_id, type="credit", amount=1_000, tenant_id=setup.tenant.id)
    spend(setup, 500, idempotency_key="k")
    spend(setup, 500, idempotency_key="k")
    statuses = sorted(AdSpendEvent.objects.filter(idempotency_key="k").values_list("status", flat=True))
    assert statuses == ["applied", "failed"]


@pytest.mark.parametrize("field,value", [
    ("amount", 0), ("amount", -5), ("amount", 1.5), ("amount", "100"), ("amount", True), ("amount", 10**15),
    ("quantity", 0), ("quantity", "1"), ("unit", "view"),
])
def test_bad_input_is_a_400_and_records_nothing(make_setup, field, value):
    setup = make_setup()
    args = {"amount": 100, "quantity": 1, "unit": "click", field: value}
    before = snapshot()
    with pytest.raises(ServiceError) as caught:
        campaign_spend(campaign_id=setup.campaign.pk, **args)
    assert caught.value.status == 400
    assert diff_counts(before, snapshot()) == {}


def test_another_tenants_campaign_is_not_found(make_setup, make_tenant):
    setup = make_setup()
    stranger = make_tenant()
    before = snapshot()
    with pytest.raises(ServiceError) as caught:
        spend(setup, 100, tenant_id=stranger.id)
    assert (caught.value.status, caught.value.code) == (404, "campaign_not_found")
    assert diff_counts(before, snapshot()) == {}


def test_inside_a_callers_transaction_the_failed_event_commits_with_it(make_setup, halt):
    from ads.services import campaign_pause

    setup = make_setup()
    halt("ads")
    with transaction.atomic():
        try:
            spend(setup, 100)
        except ServiceError as exc:
            refusal = exc.code
        # The caller carries on in the same transaction (an agent pausing the campaign after a refusal).
        campaign_pause(campaign_id=setup.campaign.pk, reason="spend refused")
    assert refusal == "kill_switch_active"
    assert AdSpendEvent.objects.filter(status="failed", failure_reason="kill_switch_active").count() == 1
    assert AdCampaign.objects.get(pk=setup.campaign.pk).status == "paused"


def test_spend_events_are_append_only(make_setup):
    from audit.immutable import AppendOnlyViolation

    event = spend(make_setup(), 100).event
    with pytest.raises(AppendOnlyViolation):
        AdSpendEvent.objects.filter(pk=event.pk).update(amount=1)
    with pytest.raises(AppendOnlyViolation):
        event.delete()


def test_a_spends_audit_events_record_its_counters_and_its_debit(make_setup):
    from audit.models import AuditEvent
    from audit.services import audit_sequence

    setup = make_setup(balance=50_000, amount_total=10_000)
    spend(setup, 300)
    outcome = spend(setup, 200, quantity=7, unit="impression", idempotency_key="k-2")
    audit_sequence()
    event = AuditEvent.objects.get(type="AD_SPEND_APPLIED", target_id=outcome.event.pk)
    assert event.after == {"amount": 200, "quantity": 7, "unit": "impression",
                           "ledger_entry_id": str(outcome.event.ledger_entry_id), "budget_spent": 500,
                           "budget_total": 10_000, "campaign_total_spent": 500}
    assert event.metadata["idempotency_key"] == "k-2" and event.metadata["tenant_id"] == str(setup.tenant.id)
    posted = AuditEvent.objects.get(type="LEDGER_ENTRY_POSTED", target_id=outcome.event.ledger_entry_id)
    assert (posted.action, posted.before, posted.after) == ("debit", {"balance": 49_700}, {"balance": 49_500})
    assert posted.metadata["sequence"] == LedgerEntry.objects.get(pk=outcome.event.ledger_entry_id).sequence
    assert outcome.budget_remaining == 9_500


@pytest.mark.postgres
def test_on_postgresql_a_spend_is_one_read_and_one_statement(make_setup, django_assert_num_queries):
    setup = make_setup(balance=50_000, amount_total=10_000)
    spend(setup, 1)
    with django_assert_num_queries(2):
        outcome = spend(setup, 100)
    setup.refresh()
    assert outcome.event.status == "applied" and setup.budget.amount_spent == 101


@pytest.mark.postgres
def test_verify_all_proves_spends_applied_in_one_statement_or_on_the_locking_path(make_setup):
    from console import integrity

    setup = make_setup(balance=50_000, amount_total=1_000)
    for amount in (100, 250, 649):
        spend(setup, amount)
    spend(setup, 1)  # exhausts the budget: the locking path applies it and pauses the campaign
    setup.refresh()
    assert setup.budget.status == "exhausted" and setup.campaign.status == "paused"
    report = integrity.run_all(store=False)
    assert report.ok, [(r.name, r.problems) for r in report.results if not r.ok]
