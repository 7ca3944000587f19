"""The ads console: lists with spend progress, read-only rows, actions through the services, the tenant switch."""
import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from ads.models import AdBudget, AdCampaign, AdGovernanceLimit, AdSpendEvent
from ads.services import campaign_spend
from audit.models import StagedEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    from identity.models import User

    admin = User.objects.create_superuser(username="console-admin", password="x-long-password-1")
    client.force_login(admin)
    client.admin = admin
    return client


def url(model, view="changelist", *args):
    return reverse(f"admin:ads_{model}_{view}", args=args)


def test_every_ads_page_renders(admin_client, make_setup):
    setup = make_setup(amount_total=1_000)
    campaign_spend(campaign_id=setup.campaign.pk, amount=250, quantity=1, unit="click")
    for model in ("adaccount", "adbudget", "adcampaign", "adspendevent", "adgovernancelimit",
                  "adtenantdailyspend"):
        assert admin_client.get(url(model)).status_code == 200, model
    page = admin_client.get(url("adcampaign")).content.decode()
    assert '<progress value="250" max="1000"' in page and "250 / 1000 (25%)" in page
    event = AdSpendEvent.objects.get()
    assert admin_client.get(url("adspendevent", "change", event.pk)).status_code == 200
    assert admin_client.get(url("adcampaign", "change", setup.campaign.pk)).status_code == 200
    assert admin_client.get(url("adcampaign", "history", setup.campaign.pk)).status_code == 200
    assert admin_client.get(url("adgovernancelimit", "history",
                                AdGovernanceLimit.objects.get().pk)).status_code == 200


def test_spend_events_cannot_be_added_changed_or_deleted(admin_client, make_setup):
    setup = make_setup()
    event = campaign_spend(campaign_id=setup.campaign.pk, amount=100, quantity=1, unit="click").event
    assert admin_client.get(url("adspendevent", "add")).status_code == 403
    assert admin_client.post(url("adspendevent", "change", event.pk), {"amount": 1}).status_code == 403
    assert admin_client.post(url("adspendevent", "delete", event.pk), {"post": "yes"}).status_code == 403
    assert AdSpendEvent.objects.get().amount == 100


def test_campaign_and_budget_rows_are_never_saved_from_their_forms_or_history(admin_client, make_setup):
    setup = make_setup()
    campaign_spend(campaign_id=setup.campaign.pk, amount=100, quantity=1, unit="click")
    assert admin_client.post(url("adcampaign", "change", setup.campaign.pk), {"name": "x"}).status_code == 403
    version = AdBudget.history.filter(id=setup.budget.pk).earliest("history_date")
    revert = reverse("admin:ads_adbudget_simple_history", args=(setup.budget.pk, version.history_id))
    assert admin_client.post(revert, {}).status_code == 403
    assert AdBudget.objects.get(pk=setup.budget.pk).amount_spent == 100


def test_the_kill_switch_action_asks_for_a_reason_then_halts_the_tenant(admin_client, make_setup):
    setup = make_setup()
    limits = AdGovernanceLimit.objects.get(tenant_id=setup.tenant.id)
    data = {"action": "activate_kill_switch", ACTION_CHECKBOX_NAME: [str(limits.pk)]}

    confirm = admin_client.post(url("adgovernancelimit"), data)
    assert confirm.status_code == 200 and b"reason" in confirm.content
    assert not AdGovernanceLimit.objects.get(pk=limits.pk).kill_switch
    too_short = admin_client.post(url("adgovernancelimit"), {**data, "apply": "1", "reason": "x"})
    assert too_short.status_code == 200 and not AdGovernanceLimit.objects.get(pk=limits.pk).kill_switch

    done = admin_client.post(url("adgovernancelimit"), {**data, "apply": "1", "reason": "chargeback wave"})

    assert done.status_code == 302
    limits.refresh_from_db()
    assert limits.kill_switch and limits.kill_switch_reason == "chargeback wave"
    assert limits.kill_switch_activated_by == admin_client.admin.pk
    event = StagedEvent.objects.get(type="AD_TENANT_KILL_SWITCH_ACTIVATED")
    assert (event.actor_id, event.actor_type, event.reason) == (admin_client.admin.pk, "admin", "chargeback wave")
    assert limits.history.latest("history_date").history_user_id == admin_client.admin.pk
    from core.errors import ServiceError

    with pytest.raises(ServiceError) as caught:
        campaign_spend(campaign_id=setup.campaign.pk, amount=1, quantity=1, unit="click")
    assert caught.value.status == 423


def test_limits_are_edited_through_the_service_with_a_reason(admin_client, make_setup):
    setup = make_setup()
    limits = AdGovernanceLimit.objects.get(tenant_id=setup.tenant.id)
    response = admin_client.post(url("adgovernancelimit", "change", limits.pk),
                                 {"max_spend_per_day": "5000", "max_spend_per_campaign": "", "reason": "weekly"})
    assert response.status_code == 302, response.content
    limits.refresh_from_db()
    assert limits.max_spend_per_day == 5_000
    assert StagedEvent.objects.filter(type="AD_LIMITS_CHANGED", reason="weekly").exists()
    assert limits.history.latest("history_date").history_change_reason == "weekly"


def test_campaign_actions_go_through_the_services_and_report_refusals(admin_client, make_setup, halt):
    setup = make_setup()
    pk = str(setup.campaign.pk)
    admin_client.post(url("adcampaign"), {"action": "pause", ACTION_CHECKBOX_NAME: [pk]})
    assert AdCampaign.objects.get(pk=pk).status == "paused"
    halt("ads")
    response = admin_client.post(url("adcampaign"), {"action": "activate", ACTION_CHECKBOX_NAME: [pk]}, follow=True)
    assert b"kill_switch_active" in response.content
    assert AdCampaign.objects.get(pk=pk).status == "paused"


def test_the_budget_total_action_uses_the_service(admin_client, make_setup):
    setup = make_setup(amount_total=1_000)
    campaign_spend(campaign_id=setup.campaign.pk, amount=400, quantity=1, unit="click")
    data = {"action": "set_amount", ACTION_CHECKBOX_NAME: [str(setup.budget.pk)], "apply": "1",
            "reason": "end of promo"}
    response = admin_client.post(url("adbudget"), {**data, "amount_total": "300"}, follow=True)
    assert b"amount_below_spent" in response.content
    admin_client.post(url("adbudget"), {**data, "amount_total": "400"})
    budget = AdBudget.objects.get(pk=setup.budget.pk)
    assert (budget.amount_total, budget.status) == (400, "exhausted")


def test_limits_for_a_new_tenant_are_added_through_the_service(admin_client, make_tenant):
    tenant = make_tenant()
    response = admin_client.post(url("adgovernancelimit", "add"),
                                 {"tenant": str(tenant.id), "max_spend_per_day": "700",
                                  "max_spend_per_campaign": "300", "reason": "new customer"})
    assert response.status_code == 302, response.content
    limits = AdGovernanceLimit.objects.get(tenant_id=tenant.id)
    assert (limits.max_spend_per_day, limits.max_spend_per_campaign) == (700, 300)
    assert StagedEvent.objects.filter(type="AD_LIMITS_CHANGED", reason="new customer").exists()
