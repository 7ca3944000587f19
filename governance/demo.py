"""Demo data for the governance console (``manage.py seed_demo``): idempotent, safe to run again.

A few policies (one a draft, to try the dry run), a history of evaluations, a pending request in the ``config``
domain and a decision authority for the demo administrator (username ``admin``). Institutional memory's demo data
is ``memory.demo``.

``make run`` seeds before ``demo_admin`` creates the admin, so its authority is granted when the user appears
(``on_user_saved``: connected by the development-only ``devtools`` app, never in production, and acting only while
DEBUG is on and once the demo policies exist).
"""
from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from governance.models import ApprovalRequest, DecisionAuthority, Policy, PolicyEvaluation
from governance.services.approvals import approval_request_create
from governance.services.authorities import authority_grant
from governance.services.policies import policy_create, policy_evaluate
from identity.models import User

DEMO_ADMIN = "admin"
DEMO_ACTOR = uuid.uuid5(uuid.NAMESPACE_URL, "prostqs:demo:governance")

POLICIES = [
    {"name": "demo: payouts over R$ 10,000 need approval", "resource": "billing", "action": "payout",
     "effect": "require_approval", "priority": 100, "active": True,
     "conditions": [{"field": "amount", "op": "gt", "value": 1_000_000}],
     "reason": "Payouts above R$ 10,000 are confirmed by a finance officer."},
    {"name": "demo: no refunds above R$ 5,000", "resource": "billing", "action": "refund", "effect": "deny",
     "priority": 100, "active": True, "conditions": [{"field": "amount", "op": "gt", "value": 500_000}],
     "reason": "Refunds this large go through the dispute process, not an agent."},
    {"name": "demo: billing credits up to R$ 1,000", "resource": "billing", "action": "credit", "effect": "allow",
     "priority": 10, "active": True, "conditions": [{"field": "amount", "op": "lte", "value": 100_000}],
     "reason": "Small goodwill credits may be given without a human."},
    {"name": "demo: budget raises over 50% need approval", "resource": "ads", "action": "set_budget",
     "effect": "require_approval", "priority": 50, "active": True,
     "conditions": [{"field": "change_ratio", "op": "gt", "value": 1.5}],
     "reason": "Large budget raises are confirmed by a person."},
    {"name": "demo: ads actions allowed", "resource": "ads", "action": "*", "effect": "allow", "priority": 0,
     "active": True, "conditions": [], "reason": "Agents may manage campaigns within their budgets."},
    {"name": "demo: night-time agent actions need approval (draft)", "resource": "*", "action": "*",
     "effect": "require_approval", "priority": 200, "active": False,
     "conditions": [{"field": "hour", "op": "in", "value": [0, 1, 2, 3, 4, 5]}],
     "reason": "Nobody watches at night: hold actions for the morning. Try the dry run before activating."},
]
MARKER = POLICIES[0]["name"]

EVALUATIONS = [
    ("billing", "payout", {"amount": 500_000, "hour": 14}),
    ("billing", "payout", {"amount": 2_500_000, "hour": 3}),
    ("billing", "refund", {"amount": 120_000, "hour": 10}),
    ("billing", "refund", {"amount": 900_000, "hour": 2}),
    ("billing", "credit", {"amount": 5_000, "hour": 4}),
    ("ads", "set_budget", {"amount": 300_000, "change_ratio": 1.2, "hour": 11}),
    ("ads", "set_budget", {"amount": 900_000, "change_ratio": 2.0, "hour": 1}),
    ("ads", "pause_campaign", {"amount": 0, "hour": 23}),
]


def seed(stdout) -> None:
    created = 0
    for spec in POLICIES:
        if not Policy.objects.filter(name=spec["name"]).exists():
            policy_create(**spec)
            created += 1
    if not PolicyEvaluation.objects.filter(actor_id=DEMO_ACTOR).exists():
        for resource, action, context in EVALUATIONS:
            policy_evaluate(resource=resource, action=action, context=context, actor_id=DEMO_ACTOR)
    if not ApprovalRequest.objects.filter(reference="demo:raise-daily-limit").exists():
        approval_request_create(
            domain="config", action="raise_agent_daily_limit", impact="high", reference="demo:raise-daily-limit",
            context={"agent": "demo operator", "daily_limit": {"from": 10, "to": 50},
                     "why": "Campaign launch week: the operator agent needs more room."},
            expires_at=timezone.now() + timedelta(days=30),
        )
    stdout.write(f"governance: {created} demo policies created, {len(POLICIES) - created} already there")
    admin = _demo_admin()
    if admin is None:
        stdout.write("governance: the demo admin's decision authority is granted when `manage.py demo_admin` "
                     "creates the user")
    elif _grant_demo_authority(admin):
        stdout.write("governance: decision authority granted to the demo admin")


def _demo_admin():
    return User.objects.filter(username=DEMO_ADMIN).first()


def _grant_demo_authority(user) -> bool:
    if not user.is_active or DecisionAuthority.objects.filter(user=user).exists():
        return False
    authority_grant(user=user, role="super_admin", title="Demo administrator", scopes=["*"], max_impact="critical",
                    granted_by=None, reason="demo data")
    return True


def on_user_saved(sender, instance, **kwargs) -> None:
    """Grant the demo admin its authority once ``demo_admin`` creates it, if the demo data is loaded."""
    if not settings.DEBUG or instance.username != DEMO_ADMIN or not instance.is_superuser:
        return
    if not Policy.objects.filter(name=MARKER).exists():
        return
    transaction.on_commit(lambda: _grant_demo_authority(instance))
