"""Staff actions outrank tenants (issue 23, finding 4): what staff set in the console (an agent's suspension, an
agent's policy, a campaign's pause, a budget's total) the tenant cannot undo through the API or through its agents.

Each story: staff act in the console, then the tenant tries to undo it over the API with its own key.
"""
from __future__ import annotations

import threading
import time

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connections, transaction
from django.urls import reverse

from agents.models import Agent, AgentPolicy
from governance.models import ShadowExecution
from tests.agents.conftest import codes, error_code

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def staff_locks():
    """The staff locks (imported here: on the code before them, each story fails at its own attack step)."""
    from infrastructure.models import StaffLock

    return StaffLock.objects

LOCKED = "status_locked_by_staff"


@pytest.fixture
def console(client):
    from identity.models import User

    staff = User.objects.create_superuser(username="locks-console-admin", password="x-long-password-1")
    client.force_login(staff)
    client.staff = staff
    return client


def admin_url(model: str, view: str = "changelist", *args) -> str:
    return reverse(f"admin:{model}_{view}", args=args)


def suspend_in_console(console, agent, reason="runaway spending on campaign X"):
    response = console.post(admin_url("agents_agent"), {"action": "suspend", ACTION_CHECKBOX_NAME: [str(agent.pk)],
                                                        "apply": "1", "reason": reason})
    assert response.status_code == 302, response.content.decode()[:2000]
    agent.refresh_from_db()
    assert agent.status == "suspended"


@pytest.fixture
def world(tenant, make_agent, make_ads, policy, proposer):
    policy()
    ads = make_ads(tenant, balance=200_000, amount_total=100_000)
    agent = make_agent(tenant, level=3, policies={
        "ads": {"allowed_actions": ["pause_campaign", "resume_campaign", "set_budget", "record_spend"]}})
    return {"agent": agent, "ads": ads, "api": proposer(tenant, agent), "client": tenant.client()}


# --- agents ---------------------------------------------------------------------------------------------------------


def test_a_tenant_cannot_reactivate_an_agent_staff_suspended(console, world, audit_log):
    agent, client = world["agent"], world["client"]
    suspend_in_console(console, agent)

    response = client.patch(f"/api/v1/agents/{agent.pk}", {"status": "active"}, format="json")

    assert response.status_code == 409 and error_code(response) == LOCKED
    error = response.json()["error"]
    assert error["lock"]["field"] == "status" and error["lock"]["cause"] == "staff"
    assert "runaway" not in error["message"]  # staff's reason stays in the console
    agent.refresh_from_db()
    assert agent.status == "suspended"
    refused = audit_log.assert_recorded("STAFF_LOCK_REFUSED", after={"attempted": {"status": "active"}})
    assert refused.app_id == world["api"].tenant.app.pk
    assert audit_log.events("AGENT_UPDATED", target_id=agent.pk).count() == 1  # staff's suspension only
    # And the pipeline still rejects it.
    body = world["api"].propose("ads", "pause_campaign", f"campaign:{world['ads'].campaign.pk}").json()
    assert body["outcome"] == "rejected" and codes(body)[-1] == "agent_suspended"


def test_the_tenant_may_still_do_what_staff_did_not_lock(console, world, tenant, make_agent):
    agent, client = world["agent"], world["client"]
    suspend_in_console(console, agent)
    renamed = client.patch(f"/api/v1/agents/{agent.pk}", {"name": "renamed-bot", "status": "suspended"},
                           format="json")
    assert renamed.status_code == 200 and renamed.json()["name"] == "renamed-bot"
    # An agent the tenant paused itself is the tenant's to resume.
    own = make_agent(tenant)
    assert client.patch(f"/api/v1/agents/{own.pk}", {"status": "suspended"}, format="json").status_code == 200
    assert client.patch(f"/api/v1/agents/{own.pk}", {"status": "active"}, format="json").status_code == 200


def test_staff_suspending_an_agent_its_tenant_had_paused_locks_it(console, world):
    agent, client = world["agent"], world["client"]
    assert client.patch(f"/api/v1/agents/{agent.pk}", {"status": "suspended"}, format="json").status_code == 200
    suspend_in_console(console, agent)
    response = client.patch(f"/api/v1/agents/{agent.pk}", {"status": "active"}, format="json")
    assert response.status_code == 409 and error_code(response) == LOCKED


def test_staff_reactivating_lifts_their_lock(console, world, audit_log):
    agent, client = world["agent"], world["client"]
    suspend_in_console(console, agent)
    refused = client.patch(f"/api/v1/agents/{agent.pk}", {"status": "active"}, format="json")
    assert refused.status_code == 409 and error_code(refused) == LOCKED
    console.post(admin_url("agents_agent"), {"action": "reactivate", ACTION_CHECKBOX_NAME: [str(agent.pk)],
                                             "apply": "1", "reason": "the campaign was fixed"})
    agent.refresh_from_db()
    assert agent.status == "active"
    lock = staff_locks().get(target_id=agent.pk)
    assert not lock.in_force and lock.release_reason == "the campaign was fixed"
    audit_log.assert_recorded("STAFF_LOCK_LIFTED", target_id=lock.pk, actor_id=console.staff.pk)
    assert client.patch(f"/api/v1/agents/{agent.pk}", {"status": "suspended"}, format="json").status_code == 200
    assert client.patch(f"/api/v1/agents/{agent.pk}", {"status": "active"}, format="json").status_code == 200


def test_the_agent_page_says_it_is_locked_by_staff_and_why(console, world, audit_log):
    agent = world["agent"]
    suspend_in_console(console, agent, reason="chargebacks on the tenant's campaigns")
    page = console.get(admin_url("agents_agent", "change", agent.pk)).content.decode()
    assert "Locked by staff" in page and "chargebacks on the tenant&#x27;s campaigns" in page
    lock = staff_locks().get(target_id=agent.pk)
    audit_log.assert_recorded("STAFF_LOCK_SET", target_id=lock.pk, actor_id=console.staff.pk,
                              reason="chargebacks on the tenant's campaigns")
    listed = console.get(admin_url("infrastructure_stafflock"), {"state": "in_force"})
    assert [row.pk for row in listed.context["cl"].result_list] == [lock.pk]


def test_lifting_the_lock_in_the_console_hands_the_agent_back_to_its_tenant(console, world):
    agent, client = world["agent"], world["client"]
    suspend_in_console(console, agent)
    refused = client.patch(f"/api/v1/agents/{agent.pk}", {"status": "active"}, format="json")
    assert refused.status_code == 409 and error_code(refused) == LOCKED
    lock = staff_locks().get(target_id=agent.pk)
    console.post(admin_url("infrastructure_stafflock"), {"action": "lift", ACTION_CHECKBOX_NAME: [str(lock.pk)],
                                                         "confirm": "yes", "reason": "the tenant may decide"})
    lock.refresh_from_db()
    agent.refresh_from_db()
    assert not lock.in_force and agent.status == "suspended"
    assert client.patch(f"/api/v1/agents/{agent.pk}", {"status": "active"}, format="json").status_code == 200


def test_lifting_a_lock_needs_the_right_to_change_the_locked_object(client, console, world):
    from django.contrib.auth.models import Permission

    from identity.models import User

    agent = world["agent"]
    suspend_in_console(console, agent)
    refused = world["client"].patch(f"/api/v1/agents/{agent.pk}", {"status": "active"}, format="json")
    assert refused.status_code == 409 and error_code(refused) == LOCKED
    lock = staff_locks().get(target_id=agent.pk)
    # An admin who may manage locks but only look at agents cannot hand the agent back.
    viewer = User.objects.create_user("locks-viewer", password="x-long-password-1", role=User.Role.ADMIN)
    viewer.user_permissions.add(*Permission.objects.filter(codename__in=["view_stafflock", "change_stafflock",
                                                                         "view_agent"]))
    client.force_login(viewer)
    client.post(admin_url("infrastructure_stafflock"), {"action": "lift", ACTION_CHECKBOX_NAME: [str(lock.pk)],
                                                        "confirm": "yes", "reason": "let them decide"})
    lock.refresh_from_db()
    assert lock.in_force
    refused = world["client"].patch(f"/api/v1/agents/{agent.pk}", {"status": "active"}, format="json")
    assert refused.status_code == 409 and error_code(refused) == LOCKED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_suspension_committed_while_the_tenant_reactivates_wins(tenant, make_agent):
    """The tenant's check reads the lock after taking the agent's row lock: a staff suspension in flight (holding
    that row lock until it commits its lock) is seen, not raced past."""
    from agents.services.agents import agent_update
    from identity.models import User

    staff = User.objects.create_superuser(username="locks-race-admin", password="x-long-password-1")
    agent = make_agent(tenant, level=None)
    holding, done = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def staff_suspends():
        try:
            with transaction.atomic():
                agent_update(agent_id=agent.pk, status="suspended", actor=staff, reason="race test suspension")
                holding.set()
                time.sleep(0.5)  # the tenant's request arrives meanwhile and waits on the row
        except Exception as exc:  # noqa: BLE001 - a failure in the thread is reported by the test below
            failures.append(exc)
        finally:
            holding.set()
            done.set()
            connections.close_all()

    thread = threading.Thread(target=staff_suspends)
    thread.start()
    assert holding.wait(10)
    response = tenant.client().patch(f"/api/v1/agents/{agent.pk}", {"status": "active"}, format="json")
    thread.join(10)
    assert not failures, failures
    assert response.status_code == 409 and error_code(response) == LOCKED
    agent.refresh_from_db()
    assert agent.status == "suspended"


# --- agent policies -------------------------------------------------------------------------------------------------


def save_policy_in_console(console, agent, **policy):
    existing = AgentPolicy.objects.get(agent=agent, domain="ads")
    data = {"tenant": agent.tenant_id, "app": agent.app_id or "", "name": agent.name, "type": agent.type,
            "status": agent.status, "policies-TOTAL_FORMS": "1", "policies-INITIAL_FORMS": "1",
            "policies-MIN_NUM_FORMS": "0", "policies-MAX_NUM_FORMS": "1000", "policies-0-id": str(existing.pk),
            "policies-0-agent": str(agent.pk), "policies-0-domain": "ads",
            "policies-0-allowed_actions": policy.get("allowed_actions", '["pause_campaign", "set_budget"]'),
            "policies-0-max_amount": policy.get("max_amount", ""), "policies-0-max_risk_score": "",
            "policies-0-daily_limit": policy.get("daily_limit", "")}
    response = console.post(admin_url("agents_agent", "change", agent.pk), data)
    assert response.status_code == 302, response.content.decode()[:3000]


def test_a_tenant_cannot_loosen_or_remove_a_policy_staff_set(console, world):
    agent, client, ads = world["agent"], world["client"], world["ads"]
    save_policy_in_console(console, agent, max_amount="5000")
    policy = AgentPolicy.objects.get(agent=agent, domain="ads")
    assert policy.max_amount == 5000
    url = f"/api/v1/agents/{agent.pk}/policies/ads"

    loosened = client.put(url, {"allowed_actions": ["pause_campaign", "resume_campaign", "set_budget",
                                                    "record_spend"], "max_amount": None}, format="json")
    removed = client.delete(url)

    assert loosened.status_code == 409 and error_code(loosened) == LOCKED
    assert loosened.json()["error"]["lock"]["field"] == "policy:ads"
    assert removed.status_code == 409 and error_code(removed) == LOCKED
    policy.refresh_from_db()
    assert (policy.max_amount, policy.allowed_actions) == (5000, ["pause_campaign", "set_budget"])
    # The pipeline applies staff's policy.
    body = world["api"].propose("ads", "set_budget", f"budget:{ads.budget.pk}", {"amount_total": 90_000}).json()
    assert body["outcome"] == "rejected" and codes(body)[-1] == "amount_over_max"
    # Another domain is still the tenant's.
    assert client.put(f"/api/v1/agents/{agent.pk}/policies/billing", {"allowed_actions": ["credit"]},
                      format="json").status_code == 201


def test_a_policy_staff_removed_stays_removed(console, world):
    agent, client = world["agent"], world["client"]
    existing = AgentPolicy.objects.get(agent=agent, domain="ads")
    data = {"tenant": agent.tenant_id, "app": agent.app_id, "name": agent.name, "type": agent.type,
            "status": agent.status, "policies-TOTAL_FORMS": "1", "policies-INITIAL_FORMS": "1",
            "policies-MIN_NUM_FORMS": "0", "policies-MAX_NUM_FORMS": "1000", "policies-0-id": str(existing.pk),
            "policies-0-agent": str(agent.pk), "policies-0-domain": "ads",
            "policies-0-allowed_actions": '["pause_campaign"]', "policies-0-max_amount": "",
            "policies-0-max_risk_score": "", "policies-0-daily_limit": "", "policies-0-DELETE": "on"}
    assert console.post(admin_url("agents_agent", "change", agent.pk), data).status_code == 302
    assert not AgentPolicy.objects.filter(agent=agent, domain="ads").exists()
    response = client.put(f"/api/v1/agents/{agent.pk}/policies/ads", {"allowed_actions": ["pause_campaign"]},
                          format="json")
    assert response.status_code == 409 and error_code(response) == LOCKED
    assert not AgentPolicy.objects.filter(agent=agent, domain="ads").exists()


# --- campaigns ------------------------------------------------------------------------------------------------------


def pause_in_console(console, campaign):
    console.post(admin_url("ads_adcampaign"), {"action": "pause", ACTION_CHECKBOX_NAME: [str(campaign.pk)]})
    campaign.refresh_from_db()
    assert (campaign.status, campaign.stop_reason) == ("paused", "manual")


def test_a_campaign_staff_paused_cannot_be_resumed_by_the_tenant(console, world, audit_log):
    campaign, client = world["ads"].campaign, world["client"]
    pause_in_console(console, campaign)

    response = client.post(f"/api/v1/ads/campaigns/{campaign.pk}/activate", {}, format="json")

    assert response.status_code == 409 and error_code(response) == LOCKED
    campaign.refresh_from_db()
    assert campaign.status == "paused"
    audit_log.assert_recorded("STAFF_LOCK_REFUSED", after={"attempted": {"status": "active"}})
    spend = client.post(f"/api/v1/ads/campaigns/{campaign.pk}/spend", {"amount": 100, "quantity": 1,
                                                                         "unit": "click"},
                        format="json", HTTP_IDEMPOTENCY_KEY="spend-after-pause")
    assert spend.status_code == 409
    # Pausing it again is the tenant's to do (it changes nothing).
    assert client.post(f"/api/v1/ads/campaigns/{campaign.pk}/pause", {}, format="json").status_code == 200


def test_nor_by_its_agents(console, world, tenant, make_agent, proposer, audit_log):
    campaign = world["ads"].campaign
    pause_in_console(console, campaign)

    body = world["api"].propose("ads", "resume_campaign", f"campaign:{campaign.pk}").json()

    assert body["outcome"] == "rejected" and codes(body)[-1] == LOCKED
    campaign.refresh_from_db()
    assert campaign.status == "paused"
    audit_log.assert_recorded("STAFF_LOCK_REFUSED", actor_id=world["agent"].pk)
    # An agent in shadow mode is told the domain would refuse it, for the same reason.
    shadow = proposer(tenant, make_agent(tenant, level=1, policies={"ads": {"allowed_actions": ["resume_campaign"]}}))
    shadowed = shadow.propose("ads", "resume_campaign", f"campaign:{campaign.pk}").json()
    simulation = ShadowExecution.objects.get(pk=shadowed["shadow_execution_id"]).simulation
    assert not simulation["would_apply"] and simulation["code"] == LOCKED


def test_staff_resuming_a_campaign_lifts_their_lock(console, world):
    campaign, client = world["ads"].campaign, world["client"]
    pause_in_console(console, campaign)
    console.post(admin_url("ads_adcampaign"), {"action": "activate", ACTION_CHECKBOX_NAME: [str(campaign.pk)]})
    campaign.refresh_from_db()
    assert campaign.status == "active"
    assert client.post(f"/api/v1/ads/campaigns/{campaign.pk}/pause", {}, format="json").status_code == 200
    assert client.post(f"/api/v1/ads/campaigns/{campaign.pk}/activate", {}, format="json").status_code == 200
    page = console.get(admin_url("ads_adcampaign", "change", campaign.pk)).content.decode()
    assert "None: the tenant&#x27;s API may change it." in page


# --- budgets --------------------------------------------------------------------------------------------------------


def set_total_in_console(console, budget, total: int, reason="lowered after a chargeback"):
    response = console.post(admin_url("ads_adbudget"), {"action": "set_amount", ACTION_CHECKBOX_NAME: [str(budget.pk)],
                                                        "apply": "1", "amount_total": str(total), "reason": reason})
    assert response.status_code == 302, response.content.decode()[:2000]
    budget.refresh_from_db()
    assert budget.amount_total == total


def test_a_total_staff_set_is_a_ceiling_the_tenant_cannot_raise(console, world):
    budget, client = world["ads"].budget, world["client"]
    set_total_in_console(console, budget, 50_000)
    url = f"/api/v1/ads/budgets/{budget.pk}"

    raised = client.patch(url, {"amount_total": 90_000}, format="json")

    assert raised.status_code == 409 and error_code(raised) == LOCKED
    assert raised.json()["error"]["lock"]["value"] == {"amount_total": 50_000}
    budget.refresh_from_db()
    assert budget.amount_total == 50_000
    # Below the ceiling the total is still the tenant's.
    assert client.patch(url, {"amount_total": 40_000}, format="json").json()["amount_total"] == 40_000
    assert client.patch(url, {"amount_total": 50_000}, format="json").json()["amount_total"] == 50_000
    page = console.get(admin_url("ads_adbudget", "change", budget.pk)).content.decode()
    assert "lowered after a chargeback" in page


def test_its_agents_cannot_raise_it_either(console, world):
    budget = world["ads"].budget
    set_total_in_console(console, budget, 50_000)
    body = world["api"].propose("ads", "set_budget", f"budget:{budget.pk}", {"amount_total": 80_000}).json()
    assert body["outcome"] == "rejected" and codes(body)[-1] == LOCKED
    budget.refresh_from_db()
    assert budget.amount_total == 50_000


def test_the_ceiling_holds_for_the_next_periods_too(console, tenant, world):
    from datetime import timedelta

    from ads.models import AdBudget
    from ads.services import budget_create, budget_rollover

    daily = budget_create(ad_account_id=world["ads"].account.pk, amount_total=30_000, period="daily", name="daily")
    set_total_in_console(console, daily, 10_000)
    successor = budget_rollover(budget_id=daily.pk, now=daily.period_end + timedelta(seconds=1))
    assert successor is not None and successor.amount_total == 10_000

    raised = world["client"].patch(f"/api/v1/ads/budgets/{successor.pk}", {"amount_total": 30_000}, format="json")

    assert raised.status_code == 409 and error_code(raised) == LOCKED
    assert AdBudget.objects.get(pk=successor.pk).amount_total == 10_000
    assert staff_locks().in_force().get(field="amount_total").target_id == successor.pk


def test_a_suspended_agent_keeps_its_lock_when_staff_only_rename_it(console, world):
    agent, client = world["agent"], world["client"]
    suspend_in_console(console, agent)
    data = {"tenant": agent.tenant_id, "app": agent.app_id, "name": "renamed-by-staff", "type": agent.type,
            "status": "suspended", "policies-TOTAL_FORMS": "0", "policies-INITIAL_FORMS": "0",
            "policies-MIN_NUM_FORMS": "0", "policies-MAX_NUM_FORMS": "1000"}
    assert console.post(admin_url("agents_agent", "change", agent.pk), data).status_code == 302
    response = client.patch(f"/api/v1/agents/{agent.pk}", {"status": "active"}, format="json")
    assert response.status_code == 409 and error_code(response) == LOCKED
    assert Agent.objects.get(pk=agent.pk).name == "renamed-by-staff"
