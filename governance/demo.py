"""Demo data for the governance console (``manage.py seed_demo``): idempotent, safe to run again.

A few policies (one a draft, to try the dry run), a history of evaluations, a pending request in the ``config``
domain, a decision authority for the demo administrator (username ``admin``), and institutional memory: decision
lifecycles, a pause/resume conflict, two precedents for billing credits and a review that is due.

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

from governance.models import ApprovalRequest, DecisionAuthority, DecisionLifecycle, Policy, PolicyEvaluation

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
    from governance.services.approvals import approval_request_create
    from governance.services.policies import policy_create, policy_evaluate

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
    seed_memory(stdout)
    admin = _demo_admin()
    if admin is None:
        stdout.write("governance: the demo admin's decision authority is granted when `manage.py demo_admin` "
                     "creates the user")
    elif _grant_demo_authority(admin):
        stdout.write("governance: decision authority granted to the demo admin")


def _demo_admin():
    from identity.models import User

    return User.objects.filter(username=DEMO_ADMIN).first()


def _grant_demo_authority(user) -> bool:
    from governance.services.authorities import authority_grant

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


# --- institutional memory -----------------------------------------------------------------------------------------

MEMORY_REVIEWER = "memory-reviewer"


def _demo_id(name: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"prostqs:demo:memory:{name}")


def seed_memory(stdout) -> None:
    """Lifecycles of a few demo decisions (stable ids, so a second run finds them and adds nothing): a pause and a
    resume of one campaign (a direction conflict), two reviewed billing credits kept as precedents (the demo's
    pending credit approval shows them), and a payout whose periodic review is due (in the review inbox)."""
    from governance.services.memory import (
        LifecycleSpec,
        lifecycle_open,
        precedent_record,
        review_decide,
        review_open,
    )
    from identity.models import User

    if DecisionLifecycle.objects.filter(decision_id=_demo_id("pause")).exists():
        stdout.write("governance: demo memory already there")
        return
    reviewer = User.objects.filter(username=MEMORY_REVIEWER).first()
    if reviewer is None:
        reviewer = User.objects.create_user(MEMORY_REVIEWER, role=User.Role.ADMIN)
        reviewer.set_unusable_password()
        reviewer.save(update_fields=["password"])
    if not DecisionAuthority.objects.filter(user=reviewer).exists():
        from governance.services.authorities import authority_grant

        authority_grant(user=reviewer, role="tech_lead", title="Demo reviewer", scopes=["*"], max_impact="critical",
                        granted_by=None, reason="demo data: reviews decisions in institutional memory")
    now = timezone.now()
    campaign, account = _demo_id("campaign"), _demo_id("account")

    def remember(name, *, domain, action, amount=0, **fields):
        return lifecycle_open(LifecycleSpec(decision_id=_demo_id(name), decision_type="approval", domain=domain,
                                            action=action, amount=amount, **fields),
                              reason=f"demo data: {domain}.{action}", now=now)

    remember("pause", domain="ads", action="pause_campaign", target_type="ad_campaign", target_id=str(campaign),
             direction="pause", context={"facts": {"campaign_status": "active"}, "why": "fraud suspected"})
    remember("resume", domain="ads", action="resume_campaign", target_type="ad_campaign", target_id=str(campaign),
             direction="resume", context={"facts": {"campaign_status": "paused"}, "why": "traffic looks clean"})
    results = {"credit-small": (5_000, {"customer_retained": True, "chargebacks": 0}),
               "credit-large": (40_000, {"customer_retained": False, "chargebacks": 1})}
    for name, (amount, result) in results.items():
        lifecycle = remember(name, domain="billing", action="credit", amount=amount, direction="credit",
                             target_type="billing_account", target_id=str(account),
                             reference=f"billing_account:{account}",
                             context={"facts": {"currency": "BRL", "reason": "late delivery"}})
        review = review_open(decision_id=lifecycle.decision_id, review_type="periodic", reason="demo: first review",
                             triggered_by_type="time", now=now)
        review_decide(review_id=review.pk, user=reviewer, outcome="renewed",
                      justification="demo data: the credit did what it was meant to.")
        precedent_record(decision_id=lifecycle.decision_id, created_by=reviewer, observed_result=result)
    payout = remember("payout", domain="billing", action="payout", amount=250_000, direction="debit",
                      target_type="billing_account", target_id=str(_demo_id("payout-account")),
                      next_review_at=now - timedelta(days=1), context={"facts": {"destination_type": "pix"}})
    review_open(decision_id=payout.decision_id, review_type="periodic", triggered_by_type="time", now=now,
                reason=f"periodic review due at {payout.next_review_at.isoformat()}")
    stdout.write("governance: demo memory: 5 decision lifecycles, a conflict, 2 precedents and a due review")
