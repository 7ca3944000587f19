"""Campaign status changes, ad accounts and the tenant's limits: rules, history and audit."""
import pytest

from ads.models import AdAccount, AdCampaign, AdGovernanceLimit
from ads.services import (
    ad_account_create,
    ad_account_set_status,
    ad_limits_kill_switch_activate,
    ad_limits_kill_switch_deactivate,
    ad_limits_set,
    budget_dispute,
    campaign_activate,
    campaign_complete,
    campaign_create,
    campaign_pause,
    campaign_resume,
    campaign_spend,
)
from audit.models import StagedEvent
from core.errors import ServiceError

pytestmark = pytest.mark.django_db


def code_of(call, **kwargs):
    with pytest.raises(ServiceError) as caught:
        call(**kwargs)
    return caught.value.status, caught.value.code


def test_a_campaign_goes_draft_active_paused_active_completed_with_history_and_audit(make_setup):
    setup = make_setup(activate=False)
    pk = setup.campaign.pk
    assert setup.campaign.status == "draft"
    assert campaign_activate(campaign_id=pk).status == "active"
    assert campaign_pause(campaign_id=pk, reason="creative review").status == "paused"
    assert campaign_resume(campaign_id=pk).status == "active"
    assert campaign_complete(campaign_id=pk).status == "completed"

    assert code_of(campaign_activate, campaign_id=pk) == (409, "campaign_state_conflict")
    assert code_of(campaign_pause, campaign_id=pk) == (409, "campaign_state_conflict")
    history = list(AdCampaign.history.filter(id=pk).order_by("history_date").values_list("status", flat=True))
    assert history == ["draft", "active", "paused", "active", "completed"]
    types = list(StagedEvent.objects.filter(target_id=pk).order_by("id").values_list("type", flat=True))
    assert types == ["AD_CAMPAIGN_CREATED", "AD_CAMPAIGN_ACTIVATED", "AD_CAMPAIGN_PAUSED", "AD_CAMPAIGN_ACTIVATED",
                     "AD_CAMPAIGN_COMPLETED"]


def test_repeating_a_status_change_changes_nothing(make_setup):
    setup = make_setup()
    before = StagedEvent.objects.count()
    campaign_activate(campaign_id=setup.campaign.pk)
    campaign_pause(campaign_id=setup.campaign.pk)
    campaign_pause(campaign_id=setup.campaign.pk)
    assert StagedEvent.objects.count() == before + 1


def test_a_draft_is_activated_not_resumed(make_setup):
    setup = make_setup(activate=False)
    assert code_of(campaign_resume, campaign_id=setup.campaign.pk) == (409, "campaign_state_conflict")


def test_activation_is_refused_under_kill_switches_but_pausing_is_always_allowed(make_setup, halt):
    setup = make_setup()
    paused = make_setup()
    campaign_pause(campaign_id=paused.campaign.pk)
    ad_limits_kill_switch_activate(tenant_id=paused.tenant.id, reason="tenant halt")
    assert code_of(campaign_activate, campaign_id=paused.campaign.pk) == (423, "kill_switch_active")
    halt("all")
    assert code_of(campaign_resume, campaign_id=paused.campaign.pk) == (423, "kill_switch_active")
    assert campaign_pause(campaign_id=setup.campaign.pk).status == "paused"


def test_activation_is_refused_for_exhausted_or_disputed_budgets_and_suspended_accounts(make_setup):
    setup = make_setup(amount_total=100)
    campaign_spend(campaign_id=setup.campaign.pk, amount=100, quantity=1, unit="click")
    assert code_of(campaign_activate, campaign_id=setup.campaign.pk) == (409, "budget_exhausted")

    disputed = make_setup(activate=False)
    budget_dispute(budget_id=disputed.budget.pk, reason="chargeback")
    assert code_of(campaign_activate, campaign_id=disputed.campaign.pk) == (409, "budget_disputed")

    suspended = make_setup(activate=False)
    ad_account_set_status(account_id=suspended.account.pk, status="suspended", reason="review")
    assert code_of(campaign_activate, campaign_id=suspended.campaign.pk) == (409, "ad_account_suspended")


def test_a_campaign_uses_a_budget_of_its_own_account(make_setup):
    first, second = make_setup(), make_setup()
    status, code = code_of(campaign_create, ad_account_id=first.account.pk, budget_id=second.budget.pk, name="x",
                           objective="clicks")
    assert (status, code) == (400, "budget_account_mismatch")
    assert code_of(campaign_create, ad_account_id=first.account.pk, budget_id=first.budget.pk, name="x",
                   objective="likes")[0] == 400


def test_another_tenant_cannot_touch_a_campaign(make_setup, make_tenant):
    setup, stranger = make_setup(), make_tenant()
    for call in (campaign_activate, campaign_pause, campaign_resume, campaign_complete):
        assert code_of(call, campaign_id=setup.campaign.pk, tenant_id=stranger.id) == (404, "campaign_not_found")
    assert AdCampaign.objects.get(pk=setup.campaign.pk).status == "active"


def test_an_app_opens_ad_accounts_only_for_people_proven_to_it(make_tenant, make_customer):
    from identity.models import User

    tenant, other = make_tenant(), make_tenant()
    outsider = User.objects.create_user(username="outsider")
    claim, customer, theirs = make_customer(tenant, proven=False), make_customer(tenant), make_customer(other)
    for user_id in (outsider.pk, claim.pk, theirs.pk, tenant.id):
        assert code_of(ad_account_create, tenant_id=tenant.id, user_id=user_id, name="x",
                       app=tenant.app) == (404, "user_not_found")
    # Another tenant's app never opens an account for this tenant.
    assert code_of(ad_account_create, tenant_id=tenant.id, user_id=customer.pk, name="x",
                   app=other.app) == (404, "user_not_found")
    account = ad_account_create(tenant_id=tenant.id, user_id=customer.pk, name="Mine", app=tenant.app)
    assert account.balance_account.user_id == customer.pk
    assert AdGovernanceLimit.objects.filter(tenant_id=tenant.id).exists()
    again = ad_account_create(tenant_id=tenant.id, user_id=customer.pk, name="Second", app=tenant.app)
    assert again.balance_account_id == account.balance_account_id  # one billing account per user


def test_limits_changes_keep_history_and_audit(make_tenant):
    tenant = make_tenant()
    ad_limits_set(tenant_id=tenant.id, max_spend_per_day=5_000, reason="first cap")
    ad_limits_set(tenant_id=tenant.id, max_spend_per_campaign=1_000, reason="campaign cap")
    limits = ad_limits_set(tenant_id=tenant.id, max_spend_per_day=None, reason="lifted")
    assert (limits.max_spend_per_day, limits.max_spend_per_campaign) == (None, 1_000)
    reasons = list(limits.history.order_by("history_date").values_list("history_change_reason", flat=True))
    assert reasons[-3:] == ["first cap", "campaign cap", "lifted"]
    assert StagedEvent.objects.filter(type="AD_LIMITS_CHANGED").count() == 3
    assert code_of(ad_limits_set, tenant_id=tenant.id, max_spend_per_day=-1, reason="bad")[0] == 400
    assert code_of(ad_limits_set, tenant_id=tenant.id, max_spend_per_day=1, reason="")[1] == "reason_required"


def test_the_tenant_kill_switch_is_audited_and_lifted_with_a_reason(make_tenant):
    tenant = make_tenant()
    limits = ad_limits_kill_switch_activate(tenant_id=tenant.id, reason="suspicious traffic")
    assert limits.kill_switch and limits.kill_switch_activated_at is not None
    event = StagedEvent.objects.get(type="AD_TENANT_KILL_SWITCH_ACTIVATED")
    assert event.reason == "suspicious traffic" and event.after["kill_switch"] is True
    lifted = ad_limits_kill_switch_deactivate(tenant_id=tenant.id, reason="traffic verified")
    assert not lifted.kill_switch
    assert code_of(ad_limits_kill_switch_deactivate, tenant_id=tenant.id, reason="again") == (409,
                                                                                            "kill_switch_inactive")


def test_suspending_an_account_is_audited(make_setup):
    setup = make_setup()
    ad_account_set_status(account_id=setup.account.pk, status="suspended", reason="review")
    assert AdAccount.objects.get(pk=setup.account.pk).status == "suspended"
    assert StagedEvent.objects.filter(type="AD_ACCOUNT_STATUS_CHANGED", target_id=setup.account.pk).exists()
