"""Demo data for institutional memory (``manage.py seed_demo``): idempotent, safe to run again.

A pause and a resume of one campaign (a direction conflict), two reviewed billing credits kept as precedents, a
payout whose periodic review is due, and the person who reviews them (``memory-reviewer``, no password).
"""
from __future__ import annotations

import uuid
from datetime import timedelta

from django.utils import timezone

from governance.models import DecisionAuthority
from governance.services.authorities import authority_grant
from identity.models import User
from memory.models import DecisionLifecycle
from memory.services import LifecycleSpec, lifecycle_open, precedent_record, review_decide, review_open

MEMORY_REVIEWER = "memory-reviewer"


def _demo_id(name: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"prostqs:demo:memory:{name}")


def seed(stdout) -> None:
    """Lifecycles of a few demo decisions (stable ids, so a second run finds them and adds nothing): a pause and a
    resume of one campaign (a direction conflict), two reviewed billing credits kept as precedents (the demo's
    pending credit approval shows them), and a payout whose periodic review is due (in the review inbox)."""
    if DecisionLifecycle.objects.filter(decision_id=_demo_id("pause")).exists():
        stdout.write("memory: demo memory already there")
        return
    reviewer = User.objects.filter(username=MEMORY_REVIEWER).first()
    if reviewer is None:
        reviewer = User.objects.create_user(MEMORY_REVIEWER, role=User.Role.ADMIN)
        reviewer.set_unusable_password()
        reviewer.save(update_fields=["password"])
    if not DecisionAuthority.objects.filter(user=reviewer).exists():
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
    stdout.write("memory: 5 decision lifecycles, a conflict, 2 precedents and a due review")
