"""Budgets: totals raised and lowered, exhaustion and reopening, disputes, and each new period as a new row."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from ads import rules
from ads.models import AdBudget, AdCampaign
from ads.services import (
    ROLLOVER_JOB,
    budget_create,
    budget_dispute,
    budget_dispute_resolve,
    budget_rollover,
    budget_set_amount,
    budgets_rollover_due,
    campaign_activate,
    campaign_create,
    campaign_pause,
    campaign_spend,
)
from audit.models import StagedEvent
from core.errors import ServiceError
from infrastructure.models import Job

pytestmark = pytest.mark.django_db


def spend(setup, amount):
    return campaign_spend(campaign_id=setup.campaign.pk, amount=amount, quantity=1, unit="click")


def test_raising_and_lowering_the_total_is_audited_with_history(make_setup):
    setup = make_setup(amount_total=1_000)
    spend(setup, 400)

    budget_set_amount(budget_id=setup.budget.pk, amount_total=2_000, reason="more reach")
    budget_set_amount(budget_id=setup.budget.pk, amount_total=500, reason="cut")

    setup.refresh()
    assert (setup.budget.amount_total, setup.budget.amount_spent, setup.budget.status) == (500, 400, "active")
    assert setup.budget.history.filter(amount_total=2_000).exists()
    assert StagedEvent.objects.filter(type="AD_BUDGET_AMOUNT_CHANGED", target_id=setup.budget.pk).count() == 2


def test_the_total_never_goes_below_what_was_spent(make_setup):
    setup = make_setup(amount_total=1_000)
    spend(setup, 400)
    with pytest.raises(ServiceError) as caught:
        budget_set_amount(budget_id=setup.budget.pk, amount_total=399)
    assert (caught.value.status, caught.value.code) == (409, "amount_below_spent")
    assert AdBudget.objects.get(pk=setup.budget.pk).amount_total == 1_000


def test_lowering_to_the_spent_amount_exhausts_and_raising_reopens_only_the_budgets_own_stops(make_setup):
    setup = make_setup(amount_total=1_000)
    manual = campaign_create(ad_account_id=setup.account.pk, budget_id=setup.budget.pk, name="manual",
                             objective="clicks")
    campaign_activate(campaign_id=manual.pk)
    spend(setup, 400)

    budget_set_amount(budget_id=setup.budget.pk, amount_total=400)
    setup.refresh()
    assert setup.budget.status == "exhausted"
    assert (setup.campaign.status, setup.campaign.stop_reason) == ("paused", "budget_exhausted")
    campaign_pause(campaign_id=manual.pk)  # a person now holds this one

    budget_set_amount(budget_id=setup.budget.pk, amount_total=900)
    setup.refresh()
    assert setup.budget.status == "active"
    assert (setup.campaign.status, setup.campaign.stop_reason) == ("active", "")
    assert AdCampaign.objects.get(pk=manual.pk).status == "paused"
    assert StagedEvent.objects.filter(type="AD_BUDGET_REOPENED").count() == 1


def test_raising_a_budget_under_a_kill_switch_is_refused_but_lowering_is_not(make_setup, halt):
    setup = make_setup(amount_total=1_000)
    halt("ads")
    with pytest.raises(ServiceError) as caught:
        budget_set_amount(budget_id=setup.budget.pk, amount_total=2_000)
    assert (caught.value.status, caught.value.code) == (423, "kill_switch_active")
    assert budget_set_amount(budget_id=setup.budget.pk, amount_total=500).amount_total == 500


def test_a_dispute_stops_spending_until_resolved(make_setup):
    setup = make_setup(amount_total=1_000)
    budget_dispute(budget_id=setup.budget.pk, reason="chargeback")
    with pytest.raises(ServiceError) as caught:
        spend(setup, 100)
    assert caught.value.code == "budget_disputed"
    with pytest.raises(ServiceError):
        budget_dispute(budget_id=setup.budget.pk, reason="x")  # a reason of at least 3 characters
    budget_dispute_resolve(budget_id=setup.budget.pk, reason="won the dispute")
    spend(setup, 100)
    with pytest.raises(ServiceError) as caught:
        budget_dispute_resolve(budget_id=setup.budget.pk, reason="again")
    assert caught.value.code == "budget_state_conflict"


def test_period_bounds_are_calendar_days_and_months_in_the_project_time_zone(settings):
    utc = ZoneInfo("UTC")
    at = datetime(2024, 2, 29, 23, 59, 59, tzinfo=utc)
    assert rules.period_bounds("daily", at) == (datetime(2024, 2, 29, tzinfo=utc), datetime(2024, 3, 1, tzinfo=utc))
    assert rules.period_bounds("monthly", at) == (datetime(2024, 2, 1, tzinfo=utc), datetime(2024, 3, 1, tzinfo=utc))
    assert rules.period_bounds("monthly", datetime(2024, 12, 31, 12, tzinfo=utc))[1] == datetime(2025, 1, 1,
                                                                                                   tzinfo=utc)
    assert rules.period_bounds("lifetime", at) == (at, None)


def test_a_daily_budget_queues_its_rollover_for_the_end_of_the_day(make_setup):
    setup = make_setup(period="daily")
    job = Job.objects.get(type=ROLLOVER_JOB)
    assert job.payload == {"budget_id": str(setup.budget.pk)}
    assert job.next_run_at == setup.budget.period_end
    assert setup.budget.period_end - setup.budget.period_start == timedelta(days=1)


def test_the_rollover_job_opens_the_next_period_once_and_moves_the_campaigns(make_setup, run_jobs, clock):
    setup = make_setup(period="daily", amount_total=1_000)
    spend(setup, 1_000)  # exhausts: the campaign stops until the next period
    old = AdBudget.objects.get(pk=setup.budget.pk)

    assert run_jobs(ROLLOVER_JOB) == 0  # not due yet
    clock.advance(days=1)
    assert run_jobs(ROLLOVER_JOB) == 1
    assert budget_rollover(budget_id=old.pk) is None  # delivered again: nothing more happens

    old.refresh_from_db()
    successor = AdBudget.objects.get(previous_budget=old)
    setup.refresh()
    assert old.closed_at is not None and (old.amount_spent, old.status) == (1_000, "exhausted")
    assert (successor.amount_total, successor.amount_spent, successor.status) == (1_000, 0, "active")
    assert successor.period_start == old.period_end
    assert setup.campaign.budget_id == successor.pk
    assert (setup.campaign.status, setup.campaign.stop_reason) == ("active", "")
    assert Job.objects.filter(type=ROLLOVER_JOB, payload={"budget_id": str(successor.pk)}).exists()
    assert StagedEvent.objects.filter(type="AD_BUDGET_PERIOD_OPENED", target_id=successor.pk).exists()
    spend(setup, 600)
    assert AdBudget.objects.get(pk=successor.pk).amount_spent == 600


def test_a_spend_after_the_end_of_the_period_opens_the_next_one_itself(make_setup, clock):
    setup = make_setup(period="monthly", amount_total=1_000)
    spend(setup, 700)
    clock.advance(days=32)

    outcome = spend(setup, 700)  # would not fit in the old month

    successor = AdBudget.objects.get(previous_budget=setup.budget)
    assert outcome.event.budget_id == successor.pk and outcome.budget_remaining == 300
    assert AdBudget.objects.get(pk=setup.budget.pk).amount_spent == 700


def test_a_manually_paused_campaign_stays_paused_in_the_new_period(make_setup):
    setup = make_setup(period="daily")
    campaign_pause(campaign_id=setup.campaign.pk)
    budget_rollover(budget_id=setup.budget.pk, now=setup.budget.period_end)
    setup.refresh()
    assert setup.campaign.status == "paused" and setup.campaign.budget.previous_budget_id == setup.budget.pk


def test_the_sweep_rolls_over_every_due_budget_and_skips_lifetime_ones(make_setup, clock):
    daily = make_setup(period="daily")
    monthly = make_setup(period="monthly")
    lifetime = make_setup(period="lifetime")
    later = timezone.now() + timedelta(days=40)

    assert budgets_rollover_due(now=later) == 2
    assert budgets_rollover_due(now=later) == 0
    assert AdBudget.objects.filter(previous_budget__in=[daily.budget, monthly.budget]).count() == 2
    assert not AdBudget.objects.filter(previous_budget=lifetime.budget).exists()


def test_a_closed_period_cannot_be_changed_or_given_campaigns(make_setup):
    setup = make_setup(period="daily")
    successor = budget_rollover(budget_id=setup.budget.pk, now=setup.budget.period_end)
    with pytest.raises(ServiceError) as caught:
        budget_set_amount(budget_id=setup.budget.pk, amount_total=50_000)
    assert caught.value.code == "budget_closed" and caught.value.extra["current_budget_id"] == str(successor.pk)
    with pytest.raises(ServiceError) as caught:
        campaign_create(ad_account_id=setup.account.pk, budget_id=setup.budget.pk, name="late", objective="clicks")
    assert caught.value.code == "budget_closed"


def test_the_celery_beat_entry_and_task_are_registered(settings):
    from prostqs.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["ads.budgets_rollover"]
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks


def test_the_celery_task_queues_one_sweep_that_rolls_over_due_budgets(make_setup, clock, run_jobs):
    from ads.tasks import budgets_rollover

    setup = make_setup(period="daily")
    clock.advance(days=1)
    assert budgets_rollover.apply().get() is True
    assert budgets_rollover.apply().get() is False  # one sweep at a time
    assert run_jobs("ads_budgets_rollover_due") == 1
    assert AdBudget.objects.filter(previous_budget=setup.budget).exists()


def test_budget_input_is_validated(make_setup):
    setup = make_setup()
    for kwargs, field in [({"amount_total": 0}, "amount_total"), ({"amount_total": "5"}, "amount_total"),
                          ({"period": "weekly"}, "period")]:
        with pytest.raises(ServiceError) as caught:
            budget_create(ad_account_id=setup.account.pk, **{"amount_total": 100, **kwargs})
        assert caught.value.status == 400 and field in caught.value.fields
