"""Self-approval through one's own agent (issue 23, finding 6): an agent's request acts on behalf of the agent's
owners (its tenant, the person who created it) and of the account holder its target reaches. None of them may
approve it, escalate it or count toward its quorum, over the API or in the console; anyone else with the authority
still decides it."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings
from django.urls import reverse

from agents.services.agents import agent_create, agent_policy_set
from billing.models import BillingAccount, Payout
from billing.services.payouts import payout_request
from governance.models import ApprovalDecision, ApprovalParty, ApprovalRequest
from governance.services.authorities import authority_grant
from governance.services.autonomy import autonomy_profile_set
from identity.models import User
from tests.agents.conftest import error_code
from tests.clients import Client

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

PIX = {"type": "pix", "key": "pix-receiver@example.com"}
WHY = "Checked the agent's reasons and the account history."


@pytest.fixture
def granter(db):
    return User.objects.create_user("self-approval-granter", role=User.Role.SUPER_ADMIN)


@pytest.fixture
def give_authority(granter):
    """A billing (and ads) decision authority up to ``max_impact`` for ``user``."""

    def give(user, *, max_impact="critical"):
        authority_grant(user=user, role="finance_officer", scopes=["billing", "ads"], max_impact=max_impact,
                        granted_by=granter)
        return user

    return give


@pytest.fixture
def payout_world(tenant, make_agent, make_billing_account, policy, proposer):
    """An operator agent of ``tenant`` whose payouts wait for a person, and a customer's funded account."""
    policy("billing", "*")
    account = make_billing_account(tenant, balance=200_000)
    agent = make_agent(tenant, level=3, policies={"billing": {"allowed_actions": ["payout"],
                                                              "requires_approval": True}})
    return proposer(tenant, agent), account


def _pending_payout(api, account, amount=30_000, key="payout-1"):
    response = api.propose("billing", "payout", f"account:{account.pk}", {"amount": amount, "destination": PIX},
                           key=key)
    body = response.json()
    assert response.status_code == 201 and body["outcome"] == "pending_approval", body
    return ApprovalRequest.objects.get(pk=body["approval_request_id"]), body


def _post_decision(signed_in, user, request, decision="approved"):
    return signed_in(user).post(f"/api/v1/governance/approvals/{request.pk}/decisions",
                                {"decision": decision, "justification": WHY}, format="json")


def _assert_nothing_written(audit_log, request, *, account=None, balance=None):
    request.refresh_from_db()
    assert request.status == "pending" and request.decided_at is None
    assert not ApprovalDecision.objects.filter(request=request).exists()
    audit_log.assert_not_recorded("APPROVAL_DECIDED", target_id=request.pk)
    if account is not None:
        assert BillingAccount.objects.get(pk=account.pk).balance == balance
        assert not Payout.objects.filter(account=account).exists()


def test_the_agents_owner_holding_a_billing_authority_cannot_approve_their_agents_payout(
        payout_world, tenant, give_authority, signed_in, audit_log):
    api, account = payout_world
    request, _body = _pending_payout(api, account)
    give_authority(tenant.owner)

    response = _post_decision(signed_in, tenant.owner, request)

    assert response.status_code == 403 and error_code(response) == "self_approval_forbidden"
    assert "agent's owner" in response.json()["error"]["message"]
    _assert_nothing_written(audit_log, request, account=account, balance=200_000)
    inbox = signed_in(tenant.owner).get("/api/v1/governance/approvals?status=pending").json()
    assert str(request.pk) not in {r["id"] for r in inbox["results"]}


def test_the_account_holder_holding_an_authority_cannot_approve_a_payout_from_their_own_account(
        payout_world, give_authority, signed_in, audit_log):
    api, account = payout_world
    request, _body = _pending_payout(api, account)
    holder = give_authority(account.user)

    response = _post_decision(signed_in, holder, request)

    assert response.status_code == 403 and error_code(response) == "self_approval_forbidden"
    assert "account holder" in response.json()["error"]["message"]
    _assert_nothing_written(audit_log, request, account=account, balance=200_000)


def test_an_unrelated_authority_approves_the_agents_payout_and_it_is_paid_once(
        payout_world, tenant, give_authority, signed_in, run_jobs):
    api, account = payout_world
    request, body = _pending_payout(api, account)
    give_authority(tenant.owner)
    officer = give_authority(User.objects.create_user("unrelated-officer"))

    response = _post_decision(signed_in, officer, request)

    assert response.status_code == 201, response.json()
    assert response.json()["final"] is True and response.json()["request"]["status"] == "approved"
    run_jobs("governance.approval_callback")
    payout = Payout.objects.get(account=account)
    assert (payout.amount, payout.approval) == (30_000, "not_required")
    assert BillingAccount.objects.get(pk=account.pk).balance == 170_000
    got = api.get(body["id"]).json()
    assert got["outcome"] == "executed" and got["reviewed_by"] == str(officer.pk)


def test_the_requests_parties_are_fixed_with_it_and_shown(payout_world, tenant, give_authority, signed_in, audit_log):
    api, account = payout_world
    request, _body = _pending_payout(api, account)
    officer = give_authority(User.objects.create_user("reading-officer"))

    detail = signed_in(officer).get(f"/api/v1/governance/approvals/{request.pk}").json()

    assert {(p["user_id"], p["relation"]) for p in detail["on_behalf_of"]} == {
        (str(tenant.owner.pk), "agent_owner"), (str(account.user_id), "account_holder")}
    requested = audit_log.assert_recorded("APPROVAL_REQUESTED", target_id=request.pk)
    assert {(p["user_id"], p["relation"]) for p in requested.after["on_behalf_of"]} == {
        (str(tenant.owner.pk), "agent_owner"), (str(account.user_id), "account_holder")}


def test_a_party_cannot_escalate_their_agents_request(payout_world, tenant, give_authority, signed_in, audit_log):
    api, account = payout_world
    request, _body = _pending_payout(api, account)
    assert request.required_impact not in ("high", "critical")
    give_authority(tenant.owner, max_impact="high")  # on the old code: escalating to critical was open to them

    response = _post_decision(signed_in, tenant.owner, request, decision="escalated")

    assert response.status_code == 403 and error_code(response) == "self_approval_forbidden"
    required = request.required_impact
    _assert_nothing_written(audit_log, request, account=account, balance=200_000)
    assert request.required_impact == required
    audit_log.assert_not_recorded("APPROVAL_ESCALATED", target_id=request.pk)


def test_the_person_who_created_the_agent_cannot_approve_its_requests(
        tenant, make_billing_account, policy, proposer, give_authority, signed_in, audit_log):
    """An agent created in the console by a staff member (a tech lead working for the tenant): its creator is
    one of its owners."""
    policy("billing", "*")
    account = make_billing_account(tenant, balance=200_000)
    creator = give_authority(User.objects.create_user("agent-creator", role=User.Role.ADMIN))
    agent = agent_create(tenant_id=tenant.id, name="payout bot", type="operator", app_id=tenant.app.pk,
                         actor=creator)
    agent_policy_set(agent_id=agent.pk, domain="billing", allowed_actions=["payout"], requires_approval=True)
    autonomy_profile_set(agent_id=agent.pk, base_level=3)
    request, _body = _pending_payout(proposer(tenant, agent), account)

    response = _post_decision(signed_in, creator, request)

    assert response.status_code == 403 and error_code(response) == "self_approval_forbidden"
    assert "agent's creator" in response.json()["error"]["message"]
    _assert_nothing_written(audit_log, request, account=account, balance=200_000)


@override_settings(BILLING_PAYOUT_APPROVAL_THRESHOLD=10_000)
def test_a_payout_the_agent_asked_for_alone_waits_for_someone_other_than_its_owners(
        tenant, make_billing_account, policy, proposer, give_authority, signed_in, run_jobs, audit_log):
    """The agent may pay out on its own, but billing holds a payout above its threshold for a person: that
    billing request acts for the agent's owners too, though billing knows nothing of agents."""
    policy("billing", "*")
    account = make_billing_account(tenant, balance=200_000)
    creator = give_authority(User.objects.create_user("bot-creator", role=User.Role.ADMIN))
    agent = agent_create(tenant_id=tenant.id, name="autonomous payer", type="operator", app_id=tenant.app.pk,
                         actor=creator)
    agent_policy_set(agent_id=agent.pk, domain="billing", allowed_actions=["payout"])
    autonomy_profile_set(agent_id=agent.pk, base_level=3)
    body = proposer(tenant, agent).propose("billing", "payout", f"account:{account.pk}",
                                           {"amount": 20_000, "destination": PIX}, key="alone-1").json()
    assert body["outcome"] == "executed", body
    payout = Payout.objects.get(pk=body["execution"]["detail"]["payout_id"])
    assert payout.approval == "awaiting"
    request = ApprovalRequest.objects.get(domain="billing", reference=str(payout.pk))
    give_authority(tenant.owner)
    holder = give_authority(account.user)

    for party in (tenant.owner, creator, holder):
        response = _post_decision(signed_in, party, request)
        assert response.status_code == 403 and error_code(response) == "self_approval_forbidden", party
    _assert_nothing_written(audit_log, request)

    officer = give_authority(User.objects.create_user("payout-officer"))
    assert _post_decision(signed_in, officer, request).status_code == 201
    run_jobs("governance.approval_callback")
    payout.refresh_from_db()
    assert (payout.approval, payout.decided_by_id) == ("approved", officer.pk)


def test_the_account_holder_cannot_renew_a_review_of_the_agents_credit_to_their_account(
        tenant, make_agent, make_billing_account, policy, proposer, give_authority):
    """Institutional memory: the decision moved the holder's money, so its reviews are not theirs to decide."""
    from memory.models import DecisionReview
    from memory.services import review_open

    policy("billing", "*")
    account = make_billing_account(tenant, balance=1_000)
    agent = make_agent(tenant, level=3, policies={"billing": {"allowed_actions": ["credit"]}})
    body = proposer(tenant, agent).propose("billing", "credit", f"account:{account.pk}", {"amount": 500},
                                           key="credit-1").json()
    assert body["outcome"] == "executed", body
    review = review_open(decision_id=body["id"], review_type="periodic", reason="due")
    holder = account.user  # the customer happens to work the console too, with an authority over billing
    holder.role = User.Role.ADMIN
    holder.save(update_fields=["role"])
    holder.user_permissions.add(*Permission.objects.filter(content_type__app_label="memory"))
    give_authority(holder)
    console = Client()
    console.force_login(User.objects.get(pk=holder.pk))
    page = console.get(f"/admin/memory/decisionreview/{review.pk}/change/")
    assert page.status_code == 200 and b'value="renewed"' not in page.content

    posted = console.post(f"/admin/memory/decisionreview/{review.pk}/decide/",
                          {"outcome": "renewed", "justification": WHY}, follow=True)

    assert "on their behalf" in " ".join(str(m) for m in posted.context["messages"])
    assert DecisionReview.objects.get(pk=review.pk).is_open


# --- the console ----------------------------------------------------------------------------------------------------


def test_the_console_shows_the_agents_creator_why_and_no_buttons_and_refuses_the_post(
        tenant, make_billing_account, policy, proposer, give_authority, audit_log):
    policy("billing", "*")
    account = make_billing_account(tenant, balance=200_000)
    creator = give_authority(User.objects.create_user("console-creator", role=User.Role.ADMIN))
    agent = agent_create(tenant_id=tenant.id, name="console bot", type="operator", app_id=tenant.app.pk,
                         actor=creator)
    agent_policy_set(agent_id=agent.pk, domain="billing", allowed_actions=["payout"], requires_approval=True)
    autonomy_profile_set(agent_id=agent.pk, base_level=3)
    request, _body = _pending_payout(proposer(tenant, agent), account)
    console = Client()
    console.force_login(creator)

    page = console.get(reverse("admin:inbox")).content.decode()
    mine, others = page.split('id="inbox-mine"')[1].split('id="inbox-others"')
    assert str(request.pk) not in mine
    card = others.split(f'data-request="{request.pk}"')[1].split("</section>")[0]
    assert "<form" not in card and 'value="approved"' not in card
    assert 'data-code="self_approval_forbidden"' in card and "agent&#x27;s creator" in card

    change = console.get(reverse("admin:governance_approvalrequest_change", args=[request.pk]))
    assert change.status_code == 200 and change.context["decide_options"] == []
    content = change.content.decode()
    assert 'data-code="self_approval_forbidden"' in content and 'value="approved"' not in content

    posted = console.post(reverse("admin:governance_approvalrequest_decide", args=[request.pk]),
                          {"decision": "approved", "justification": WHY}, follow=True)
    assert "Nobody decides a request made on their behalf" in " ".join(str(m) for m in posted.context["messages"])
    _assert_nothing_written(audit_log, request, account=account, balance=200_000)


# --- requests made before parties were recorded -------------------------------------------------------------------


@override_settings(BILLING_PAYOUT_APPROVAL_THRESHOLD=10_000)
@pytest.mark.django_db(transaction=True)
def test_the_migrations_give_pending_requests_made_before_the_parties_the_live_rule_gives(
        tenant, make_billing_account, policy, proposer, give_authority, signed_in):
    """A deployment upgraded with requests waiting: the migrations find, for each pending request, the parties
    the live code records (the agent's owners and the account holder; the holder and the app's owner)."""
    policy("billing", "*")
    account = make_billing_account(tenant, balance=200_000)
    creator = User.objects.create_user("migrated-creator", role=User.Role.ADMIN)
    agent = agent_create(tenant_id=tenant.id, name="old bot", type="operator", app_id=tenant.app.pk, actor=creator)
    agent_policy_set(agent_id=agent.pk, domain="billing", allowed_actions=["payout"], requires_approval=True)
    autonomy_profile_set(agent_id=agent.pk, base_level=3)
    agents_request, _body = _pending_payout(proposer(tenant, agent), account)
    payout = payout_request(account_id=account.pk, amount=20_000, destination=PIX, app_id=tenant.app.pk)
    billing_request = ApprovalRequest.objects.get(domain="billing", reference=str(payout.pk))

    def parties(request):
        return set(ApprovalParty.objects.filter(request=request).values_list("user_id", "relation"))

    live = {request.pk: parties(request) for request in (agents_request, billing_request)}
    assert (creator.pk, "agent_creator") in live[agents_request.pk]
    assert (tenant.owner.pk, "app_owner") in live[billing_request.pk]

    executor = MigrationExecutor(connection)
    executor.migrate([("governance", "0002_memory")])  # the parties table and the backfills undone
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert {request.pk: parties(request) for request in (agents_request, billing_request)} == live
    give_authority(tenant.owner)
    response = _post_decision(signed_in, tenant.owner, agents_request)
    assert response.status_code == 403 and error_code(response) == "self_approval_forbidden"
