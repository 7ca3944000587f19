"""A tenant with one of everything, built through the services: what the randomized workload, the cross-tenant
matrix and the fuzzer run against.

``build_tenant(label)`` makes an owner, an application with a credential holding every scope (and one credential
per scope), an app user with an open app session, a funded billing account with a payment intent, a payout and a
subscription, an ad account with a budget and an active campaign that has spent, an operator agent (ads actions on
its own, billing credits only with a person's approval), an observer agent with a suggestion, a person with a
decision authority over ads and billing holding a session token, and a pending approval request.
"""
from __future__ import annotations

import base64
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

_counter = itertools.count(1)

ALL_SCOPES = ("identity", "billing", "ads", "agents", "observer", "audit")


def basic(public_key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{public_key}:{secret}".encode()).decode()


@dataclass
class Tenant:
    label: str
    owner_id: uuid.UUID
    app_id: uuid.UUID
    credential_id: uuid.UUID
    header: str                      # Basic credential holding every scope
    scope_headers: dict[str, str]    # one credential per scope
    owner_header: str                # Bearer session token of the owner
    approver_header: str             # Bearer session token of a person with a decision authority
    approver_id: uuid.UUID
    owner_session_id: uuid.UUID
    external_user_id: str
    user_id: uuid.UUID
    app_session_id: uuid.UUID
    billing_account_id: uuid.UUID
    intent_id: uuid.UUID
    payout_id: uuid.UUID
    subscription_id: uuid.UUID
    ad_account_id: uuid.UUID
    budget_id: uuid.UUID
    campaign_id: uuid.UUID
    agent_id: uuid.UUID
    billing_agent_id: uuid.UUID
    observer_id: uuid.UUID
    decision_id: uuid.UUID
    suggestion_id: uuid.UUID
    approval_request_id: uuid.UUID
    credit_entry_id: uuid.UUID       # the tenant's own credit on the customer's account (not a payment)
    verification_id: uuid.UUID       # a pending proof of the customer's link (a code sent, not yet confirmed)
    extra: dict[str, Any] = field(default_factory=dict)


def _phone(number: int) -> str:
    return f"+55119{number % 10**8:08d}"


def _test_card() -> str:
    """With Stripe configured (a test key against a fake server), a card as the customer's browser would make it;
    with the local provider, none is needed."""
    from django.conf import settings

    if not settings.STRIPE_SECRET_KEY:
        return ""
    if not settings.STRIPE_SECRET_KEY.startswith("sk_test_"):
        raise RuntimeError("the reliability world only runs against Stripe's test mode")
    import stripe

    client = stripe.StripeClient(settings.STRIPE_SECRET_KEY, max_network_retries=0,
                                 base_addresses={"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else {})
    return client.v1.payment_methods.create(params={
        "type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}}).id


def ensure_allow_policy() -> None:
    """Governance lets agents act (the default effect denies): one allow policy for every resource and action."""
    from governance.models import Policy
    from governance.services.policies import policy_create

    if not Policy.objects.filter(name="reliability: agents may act").exists():
        policy_create(name="reliability: agents may act", resource="*", action="*", effect="allow",
                      reason="reliability workload: agents act within their own policies", conditions=[],
                      priority=0, active=True)


@transaction.atomic
def build_tenant(label: str) -> Tenant:
    from ads.services import ad_account_create, budget_create, campaign_activate, campaign_create, campaign_spend
    from agents.services.agents import agent_create, agent_policy_set
    from agents.services.decisions import decision_propose
    from agents.services.observer import suggestion_record
    from billing.services.accounts import account_open
    from billing.services.ledger import ledger_post
    from billing.services.payments import payment_intent_create
    from billing.services.payouts import payout_request
    from billing.services.subscriptions import subscription_create
    from governance.services.authorities import authority_grant
    from governance.services.autonomy import autonomy_profile_set
    from identity.models import User
    from identity.services.apps import app_create, app_session_open, app_user_attest, app_user_link, credential_issue
    from identity.services.otp import app_user_proof_start
    from identity.services.sessions import session_open

    n = next(_counter)
    tag = f"{label}-{n}-{uuid.uuid4().hex[:6]}"
    ensure_allow_policy()
    owner = User.objects.create_user(username=f"tenant-{tag}")
    app = app_create(owner=owner, name=f"App {tag}")
    issued = credential_issue(app=app, name="all scopes", scopes=list(ALL_SCOPES))
    scope_headers = {}
    for scope in ALL_SCOPES:
        one = credential_issue(app=app, name=f"only {scope}", scopes=[scope])
        scope_headers[scope] = basic(one.credential.public_key, one.secret)
    owner_session = session_open(user=owner, device_fingerprint="reliability")

    granter = User.objects.create_user(username=f"granter-{tag}", role=User.Role.SUPER_ADMIN)
    approver = User.objects.create_user(username=f"approver-{tag}")
    authority_grant(user=approver, role="tech_lead", scopes=["ads", "billing"], max_impact="critical",
                    granted_by=granter)
    approver_session = session_open(user=approver, device_fingerprint="reliability")

    external_user_id = f"customer-{tag}"
    app_user, _ = app_user_link(app=app, external_user_id=external_user_id, phone=_phone(n * 7919 + 13))
    app_user = app_user_attest(app_user=app_user, actor=None, reason="reliability world: the app's customer")
    app_session = app_session_open(app_user=app_user, ip_address="127.0.0.1")
    account, _ = account_open(user=app_user.user)
    credit = ledger_post(account_id=account.pk, type="credit", amount=5_000_000, description="opening balance",
                         tenant_id=owner.pk)
    verification = app_user_proof_start(app_user=app_user)
    intent, _secret = payment_intent_create(account_id=account.pk, amount=1_500, currency="BRL", app_id=app.pk,
                                            idempotency_key=f"world-intent-{tag}")
    payout = payout_request(account_id=account.pk, amount=2_000, app_id=app.pk,
                            destination={"type": "pix", "key": "reliability@example.com"},
                            idempotency_key=f"world-payout-{tag}")
    subscription = subscription_create(account_id=account.pk, plan_id="basic", amount=990, interval="month",
                                       app_id=app.pk, idempotency_key=f"world-sub-{tag}",
                                       payment_method=_test_card())

    ad_account = ad_account_create(tenant_id=owner.pk, user_id=app_user.user_id, name=f"Ads {tag}", app=app)
    ledger_post(account_id=ad_account.balance_account_id, type="credit", amount=5_000_000, description="ads funding",
                tenant_id=owner.pk)
    budget = budget_create(ad_account_id=ad_account.pk, amount_total=2_000_000, name="budget")
    campaign = campaign_create(ad_account_id=ad_account.pk, budget_id=budget.pk, name=f"Campaign {tag}",
                               objective="clicks")
    campaign_activate(campaign_id=campaign.pk)
    campaign_spend(campaign_id=campaign.pk, amount=100, quantity=3, unit="click", idempotency_key=f"world-{tag}")

    agent = agent_create(tenant_id=owner.pk, name=f"operator {tag}", type="operator", app_id=app.pk)
    agent_policy_set(agent_id=agent.pk, domain="ads", max_amount=100_000,
                     allowed_actions=["pause_campaign", "resume_campaign", "set_budget", "record_spend"])
    autonomy_profile_set(agent_id=agent.pk, base_level=3)
    billing_agent = agent_create(tenant_id=owner.pk, name=f"executor {tag}", type="executor", app_id=app.pk)
    agent_policy_set(agent_id=billing_agent.pk, domain="billing", allowed_actions=["credit"], max_amount=1_000_000,
                     requires_approval=True)
    autonomy_profile_set(agent_id=billing_agent.pk, base_level=3)
    observer = agent_create(tenant_id=owner.pk, name=f"observer {tag}", type="observer", app_id=app.pk)
    decision = decision_propose(agent_id=agent.pk, tenant_id=owner.pk, domain="ads", action="pause_campaign",
                                target_entity=f"campaign:{campaign.pk}", payload={"reason": "world"})
    campaign_activate(campaign_id=campaign.pk)
    suggestion = suggestion_record(agent_id=observer.pk, tenant_id=owner.pk, confidence=0.7,
                                   finding="spend is steady", suggestion="keep the budget",
                                   snapshot={"campaign": str(campaign.pk)}, app_id=app.pk)
    held = decision_propose(agent_id=billing_agent.pk, tenant_id=owner.pk, domain="billing", action="credit",
                            target_entity=f"account:{account.pk}", payload={"amount": 10_000})
    if held.approval_request_id is None:
        raise RuntimeError(f"the billing agent's credit did not wait for approval: {held.outcome} {held.reasons}")
    return Tenant(
        label=label, owner_id=owner.pk, app_id=app.pk, credential_id=issued.credential.pk,
        header=basic(issued.credential.public_key, issued.secret), scope_headers=scope_headers,
        owner_header=f"Bearer {owner_session.token}", approver_header=f"Bearer {approver_session.token}",
        approver_id=approver.pk, owner_session_id=owner_session.session.pk,
        external_user_id=external_user_id, user_id=app_user.user_id, app_session_id=app_session.pk,
        billing_account_id=account.pk, intent_id=intent.pk, payout_id=payout.pk, subscription_id=subscription.pk,
        ad_account_id=ad_account.pk, budget_id=budget.pk, campaign_id=campaign.pk, agent_id=agent.pk,
        billing_agent_id=billing_agent.pk, observer_id=observer.pk, decision_id=decision.pk,
        suggestion_id=suggestion.pk, approval_request_id=held.approval_request_id, credit_entry_id=credit.pk,
        verification_id=verification.pk,
    )
