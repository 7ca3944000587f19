"""Shadow-mode simulations: they write nothing, and they answer what the real service then does."""
import uuid

import pytest

from ads.models import AdBudget, AdCampaign
from ads.services import (
    ad_account_set_status,
    ad_limits_kill_switch_activate,
    ad_limits_set,
    budget_dispute,
    budget_set_amount,
    campaign_activate,
    campaign_pause,
    campaign_resume,
    campaign_spend,
)
from ads.simulations import (
    budget_set_amount_simulate,
    campaign_activate_simulate,
    campaign_pause_simulate,
    campaign_resume_simulate,
    campaign_spend_simulate,
)
from billing.models import BillingAccount
from core.errors import ServiceError
from tests.ads.conftest import diff_counts, snapshot

pytestmark = pytest.mark.django_db


def simulate_then_run(simulate, run):
    """The simulation changes nothing; the real call then succeeds or fails exactly as simulated."""
    before = snapshot()
    simulation = simulate()
    after = snapshot()
    assert diff_counts(before, after) == {} and after == before
    try:
        result = run()
    except ServiceError as exc:
        assert not simulation.would_apply, f"simulated success, got {exc.code}"
        assert (simulation.code, simulation.status) == (exc.code, exc.status)
        return simulation, None
    assert simulation.would_apply, f"simulated {simulation.code}, but the call succeeded"
    return simulation, result


def _spend_scenarios():
    def fits(s, h):
        return 500

    def too_big(s, h):
        return 20_000

    def daily(s, h):
        ad_limits_set(tenant_id=s.tenant.id, max_spend_per_day=100, reason="cap")
        return 500

    def per_campaign(s, h):
        ad_limits_set(tenant_id=s.tenant.id, max_spend_per_campaign=100, reason="cap")
        return 500

    def ads_switch(s, h):
        h("ads")
        return 500

    def billing_switch(s, h):
        h("billing")
        return 500

    def billing_switch_and_exhausted(s, h):
        h("billing")
        return 20_000  # the spend's own rules decide before the ledger's switch

    def tenant_switch(s, h):
        ad_limits_kill_switch_activate(tenant_id=s.tenant.id, reason="halt")
        return 500

    def poor(s, h):
        return 6_000  # balance 5 000, budget 10 000

    def paused(s, h):
        campaign_pause(campaign_id=s.campaign.pk)
        return 500

    def disputed(s, h):
        budget_dispute(budget_id=s.budget.pk, reason="chargeback")
        return 500

    def suspended(s, h):
        ad_account_set_status(account_id=s.account.pk, status="suspended", reason="review")
        return 500

    def bad_amount(s, h):
        return 1.5

    return [fits, too_big, daily, per_campaign, ads_switch, billing_switch, billing_switch_and_exhausted,
            tenant_switch, poor, paused, disputed, suspended, bad_amount]


@pytest.mark.parametrize("scenario", _spend_scenarios(), ids=lambda f: f.__name__)
def test_a_spend_simulation_matches_the_spend(make_setup, halt, scenario):
    setup = make_setup(balance=5_000, amount_total=10_000)
    amount = scenario(setup, halt)

    simulation, outcome = simulate_then_run(
        lambda: campaign_spend_simulate(campaign_id=setup.campaign.pk, amount=amount, quantity=1, unit="click"),
        lambda: campaign_spend(campaign_id=setup.campaign.pk, amount=amount, quantity=1, unit="click"))

    if outcome is not None:
        setup.refresh()
        balance = BillingAccount.objects.get(pk=setup.account.balance_account_id).balance
        assert simulation.after["budget_spent"] == setup.budget.amount_spent
        assert simulation.after["budget_remaining"] == outcome.budget_remaining
        assert simulation.after["campaign_total_spent"] == setup.campaign.total_spent
        assert simulation.after["balance"] == balance


def test_a_spend_that_empties_the_budget_is_simulated_with_its_stops(make_setup):
    setup = make_setup(amount_total=1_000)
    simulation, _outcome = simulate_then_run(
        lambda: campaign_spend_simulate(campaign_id=setup.campaign.pk, amount=1_000, quantity=1, unit="click"),
        lambda: campaign_spend(campaign_id=setup.campaign.pk, amount=1_000, quantity=1, unit="click"))
    setup.refresh()
    assert (simulation.after["budget_status"], simulation.after["campaign_status"]) == (setup.budget.status,
                                                                                        setup.campaign.status)


def test_a_spend_after_the_period_simulates_the_next_period(make_setup, clock):
    setup = make_setup(period="daily", amount_total=1_000)
    campaign_spend(campaign_id=setup.campaign.pk, amount=1_000, quantity=1, unit="click")
    clock.advance(days=1)
    simulation, outcome = simulate_then_run(
        lambda: campaign_spend_simulate(campaign_id=setup.campaign.pk, amount=400, quantity=1, unit="click"),
        lambda: campaign_spend(campaign_id=setup.campaign.pk, amount=400, quantity=1, unit="click"))
    assert simulation.before["new_period"] is True
    assert simulation.after["budget_remaining"] == outcome.budget_remaining == 600


def test_unknown_and_foreign_campaigns_simulate_as_not_found(make_setup, make_tenant):
    setup, stranger = make_setup(), make_tenant()
    for campaign_id, tenant_id in ((uuid.uuid4(), None), (setup.campaign.pk, stranger.id), ("not-a-uuid", None)):
        simulation = campaign_spend_simulate(campaign_id=campaign_id, amount=1, quantity=1, unit="click",
                                             tenant_id=tenant_id)
        assert (simulation.would_apply, simulation.status, simulation.code) == (False, 404, "campaign_not_found")


def test_a_replayed_key_simulates_as_changing_nothing(make_setup):
    setup = make_setup()
    campaign_spend(campaign_id=setup.campaign.pk, amount=100, quantity=1, unit="click", idempotency_key="k1")
    simulation = campaign_spend_simulate(campaign_id=setup.campaign.pk, amount=100, quantity=1, unit="click",
                                         idempotency_key="k1")
    assert simulation.would_apply and not simulation.changes


@pytest.mark.parametrize("prepare,expected", [
    ("active", ("paused", True)), ("paused", ("paused", False)), ("draft", None), ("completed", None),
])
def test_pause_simulation_matches_pause(make_setup, prepare, expected):
    setup = make_setup(activate=prepare != "draft")
    if prepare == "paused":
        campaign_pause(campaign_id=setup.campaign.pk)
    if prepare == "completed":
        AdCampaign.objects.filter(pk=setup.campaign.pk).update(status="completed")
    simulation, result = simulate_then_run(lambda: campaign_pause_simulate(campaign_id=setup.campaign.pk),
                                           lambda: campaign_pause(campaign_id=setup.campaign.pk))
    if expected is None:
        assert simulation.code == "campaign_state_conflict"
    else:
        assert (simulation.after["status"], simulation.changes) == expected == (result.status, expected[1])


@pytest.mark.parametrize("situation", ["paused", "draft", "exhausted", "halted", "active"])
@pytest.mark.parametrize("simulate,real", [(campaign_resume_simulate, campaign_resume),
                                           (campaign_activate_simulate, campaign_activate)],
                         ids=["resume", "activate"])
def test_resume_and_activate_simulations_match(make_setup, halt, situation, simulate, real):
    setup = make_setup(amount_total=1_000, activate=situation != "draft")
    if situation in ("paused", "halted"):
        campaign_pause(campaign_id=setup.campaign.pk)
    if situation == "halted":
        halt("ads")
    if situation == "exhausted":
        campaign_spend(campaign_id=setup.campaign.pk, amount=1_000, quantity=1, unit="click")
    simulation, result = simulate_then_run(lambda: simulate(campaign_id=setup.campaign.pk),
                                           lambda: real(campaign_id=setup.campaign.pk))
    if result is not None:
        assert simulation.after["status"] == result.status == "active"


@pytest.mark.parametrize("new_total,expected", [
    (5_000, "active"), (400, "exhausted"), (399, None), (0, None), (15_000, "active"),
])
def test_set_budget_simulation_matches(make_setup, new_total, expected):
    setup = make_setup(amount_total=10_000)
    campaign_spend(campaign_id=setup.campaign.pk, amount=400, quantity=1, unit="click")
    simulation, _result = simulate_then_run(
        lambda: budget_set_amount_simulate(budget_id=setup.budget.pk, amount_total=new_total),
        lambda: budget_set_amount(budget_id=setup.budget.pk, amount_total=new_total))
    if expected is None:
        assert simulation.status in (400, 409)
        return
    budget = AdBudget.objects.get(pk=setup.budget.pk)
    assert simulation.after["status"] == budget.status == expected
    if expected == "exhausted":
        assert simulation.after["stopped_campaigns"] == [str(setup.campaign.pk)]
        assert AdCampaign.objects.get(pk=setup.campaign.pk).status == "paused"


def test_raising_an_exhausted_budget_simulates_the_campaigns_it_resumes(make_setup):
    setup = make_setup(amount_total=1_000)
    campaign_spend(campaign_id=setup.campaign.pk, amount=1_000, quantity=1, unit="click")
    simulation, _budget = simulate_then_run(
        lambda: budget_set_amount_simulate(budget_id=setup.budget.pk, amount_total=2_000),
        lambda: budget_set_amount(budget_id=setup.budget.pk, amount_total=2_000))
    assert simulation.after["resumed_campaigns"] == [str(setup.campaign.pk)]
    assert AdCampaign.objects.get(pk=setup.campaign.pk).status == "active"
