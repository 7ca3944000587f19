"""Demo data for the agents console (``manage.py seed_demo``): idempotent, safe to run again.

On the demo tenant (the owner of the ``demo-shop`` app): an operator agent that manages the demo ad campaigns
(one budget raise executed, a large raise waiting for approval, a spend simulated in shadow mode, a raise over its
limit rejected), a billing executor whose credit and payout wait for approval, and an observer with suggestions,
so the console shows decisions of every outcome and a live approval inbox after ``make run``. Risk scores are
computed once.
"""
from __future__ import annotations

from typing import TextIO

from ads.models import AdAccount, AdBudget, AdCampaign
from agents.models import Agent, AgentDecision, AgentMemory, RiskScore
from agents.services.agents import agent_create, agent_policy_set
from agents.services.decisions import decision_propose
from agents.services.observer import suggestion_record
from agents.services.risk import risk_scores_recompute
from billing.models import BillingAccount
from governance.services.autonomy import autonomy_profile_set
from identity.models import Application, AppUser

APP_SLUG = "demo-shop"
OPERATOR = "demo ads operator"
EXECUTOR = "demo billing executor"
OBSERVER = "observer_v1"
WAIT = 30 * 24 * 3600  # the demo's approval requests wait a month (the longest a decision may wait)
PIX = {"type": "pix", "key": "finance@demo-shop.example"}

SUGGESTIONS = [
    (0.86, "Click-through rate of 'Launch - impressions' fell 58% in 24 h while spend stayed flat.",
     "Pause 'Launch - impressions' and review the creative before spending the rest of the launch budget.",
     {"campaign": "Launch - impressions", "ctr_24h": 0.0021, "ctr_7d": 0.0050, "spend_24h": 10_500}),
    (0.64, "'Retargeting per day' was exhausted before 15:00 on 4 of the last 7 days.",
     "Raise the daily retargeting budget by about 25%, or narrow the audience.",
     {"budget": "Retargeting per day", "exhausted_before_15h": 4, "days": 7, "amount_total": 8_000}),
    (0.41, "Two payouts to new PIX keys were requested within an hour.",
     "Hold payouts to PIX keys first seen today until a finance officer confirms them.",
     {"payouts": 2, "window_minutes": 60, "new_destinations": 2}),
]


def _tenant_app() -> Application | None:
    return Application.objects.select_related("owner").filter(slug=APP_SLUG).first()


def _agent(app: Application, name: str, type: str, stdout: TextIO) -> tuple[Agent, bool]:
    found = Agent.objects.filter(tenant=app.owner, name=name).first()
    if found is not None:
        return found, False
    stdout.write(f"  Demo agent: {name} ({type})\n")
    return agent_create(tenant_id=app.owner_id, name=name, type=type, app_id=app.pk), True


def _billing_account(app: Application) -> BillingAccount | None:
    link = AppUser.objects.filter(app=app, external_user_id="demo-customer-1").first()
    owner_account = BillingAccount.objects.filter(user=link.user).first() if link else None
    return owner_account or BillingAccount.objects.filter(user=app.owner).first()


def _operator(app: Application, stdout: TextIO) -> None:
    agent, created = _agent(app, OPERATOR, Agent.Type.OPERATOR, stdout)
    if created:
        agent_policy_set(agent_id=agent.pk, domain="ads", max_amount=300_000, daily_limit=50, max_risk_score=0.9,
                         allowed_actions=["pause_campaign", "resume_campaign", "set_budget", "record_spend"],
                         reason="demo data")
        # Full autonomy, but spends only in shadow mode until people trust it.
        autonomy_profile_set(agent_id=agent.pk, base_level=3, action_overrides={"record_spend": 1})
    if AgentDecision.objects.filter(agent=agent).exists():
        return
    account = AdAccount.objects.filter(tenant=app.owner).order_by("created_at").first()
    if account is None:
        return
    budgets = {b.name: b for b in AdBudget.objects.filter(ad_account=account, closed_at__isnull=True)}
    campaign = AdCampaign.objects.filter(ad_account=account, status=AdCampaign.Status.ACTIVE).order_by("name").first()
    retargeting, launch = budgets.get("Retargeting per day"), budgets.get("Launch budget")
    proposals = []
    if retargeting is not None:
        # 12.5% more: the demo policies let an agent do this alone (raises over 50% need a person).
        proposals.append(("set_budget", f"budget:{retargeting.pk}", {"amount_total": retargeting.amount_total
                                                                     + retargeting.amount_total // 8,
                                                                     "reason": "exhausted early most days"}))
    if launch is not None:
        proposals.append(("set_budget", f"budget:{launch.pk}", {"amount_total": launch.amount_total * 2,
                                                                "reason": "launch week is converting"}))
        proposals.append(("set_budget", f"budget:{launch.pk}", {"amount_total": 900_000}))  # over max_amount
    if campaign is not None:
        proposals.append(("record_spend", f"campaign:{campaign.pk}", {"amount": 1_800, "quantity": 6_000,
                                                                       "unit": "impression"}))
    for action, target, payload in proposals:
        decision = decision_propose(agent_id=agent.pk, tenant_id=app.owner_id, app_id=app.pk, domain="ads",
                                    action=action, target_entity=target, payload=payload, expires_in=WAIT)
        stdout.write(f"    {OPERATOR}: {action} → {decision.outcome}\n")


def _executor(app: Application, stdout: TextIO) -> None:
    agent, created = _agent(app, EXECUTOR, Agent.Type.EXECUTOR, stdout)
    if created:
        agent_policy_set(agent_id=agent.pk, domain="billing", allowed_actions=["credit", "refund", "payout"],
                         max_amount=5_000_000, requires_approval=True, reason="demo data: every action approved")
        autonomy_profile_set(agent_id=agent.pk, base_level=2)
    if AgentDecision.objects.filter(agent=agent).exists():
        return
    account = _billing_account(app)
    if account is None:
        return
    for action, payload in (("credit", {"amount": 5_000, "description": "Goodwill credit: late delivery"}),
                            ("payout", {"amount": 1_500_000, "destination": PIX})):
        decision = decision_propose(agent_id=agent.pk, tenant_id=app.owner_id, app_id=app.pk, domain="billing",
                                    action=action, target_entity=f"account:{account.pk}", payload=payload,
                                    expires_in=WAIT)
        stdout.write(f"    {EXECUTOR}: {action} → {decision.outcome}\n")


def _observer(app: Application, stdout: TextIO) -> None:
    agent, _created = _agent(app, OBSERVER, Agent.Type.OBSERVER, stdout)
    if AgentMemory.objects.filter(observer=agent).exists():
        return
    for confidence, finding, suggestion, snapshot in SUGGESTIONS:
        suggestion_record(agent_id=agent.pk, tenant_id=app.owner_id, app_id=app.pk, confidence=confidence,
                          finding=finding, suggestion=suggestion, snapshot=snapshot)
    stdout.write(f"    {OBSERVER}: {len(SUGGESTIONS)} suggestions waiting for a decision\n")


def seed(stdout: TextIO) -> None:
    app = _tenant_app()
    if app is None:
        stdout.write("agents: no demo-shop application (the identity demo makes it); nothing to add\n")
        return
    _operator(app, stdout)
    _executor(app, stdout)
    _observer(app, stdout)
    if not RiskScore.objects.filter(app=app).exists():
        risk_scores_recompute()
    stdout.write("agents: demo agents, decisions, approvals and suggestions are in place\n")
