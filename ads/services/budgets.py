"""Budgets: creation, total changes, exhaustion, disputes and the opening of each new period.

``amount_spent`` only ever grows, and only through applied spend events (``ads.services.spend``). A daily or
monthly budget therefore does not reset: when its period ends, the next period is a new row with the same total
(``previous_budget`` points back; the old row gets ``closed_at`` and stays as the record of that period), and the
campaigns move to it. The rollover runs from a job queued for the end of each period, from a periodic sweep, and
inline in any spend or activation that finds the period over, whichever comes first; all of them lock the old row
first, so the period opens exactly once.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ads import errors, events, rules
from ads.models import AdAccount, AdBudget, AdCampaign
from ads.selectors import ad_account_get, budget_get, limits_for_tenant
from ads.services.common import (
    actor_kwargs,
    campaign_transition,
    halted_by,
    lock_budget,
    save_with_reason,
)
from audit.services import audit_record
from billing.services.ledger import validate_amount
from core.errors import Conflict, InvalidInput
from core.validation import clean_reason
from infrastructure.selectors import staff_lock_in_force
from infrastructure.services.jobs import job_enqueue
from infrastructure.services.staff_locks import StaffLocked, is_staff_actor, staff_lock_set, staff_locks_carry

logger = logging.getLogger("prostqs.ads")

ROLLOVER_JOB = "ads_budget_rollover"


def _snapshot(budget: AdBudget) -> dict[str, Any]:
    return {"amount_total": budget.amount_total, "amount_spent": budget.amount_spent, "status": budget.status,
            "period": budget.period, "period_start": budget.period_start, "period_end": budget.period_end}


def _schedule_rollover(budget: AdBudget) -> None:
    if budget.period_end is not None:
        job_enqueue(ROLLOVER_JOB, payload={"budget_id": str(budget.pk)}, run_at=budget.period_end)


@transaction.atomic
def budget_create(*, ad_account_id: Any, amount_total: int, period: str = AdBudget.Period.LIFETIME, name: str = "",
                  tenant_id: Any = None) -> AdBudget:
    """A budget for one ad account. A daily or monthly one covers the current calendar day or month."""
    amount_total = validate_amount(amount_total, field="amount_total")
    if period not in AdBudget.Period.values:
        raise InvalidInput(fields={"period": [_("Must be one of: %(v)s.") % {"v": ", ".join(AdBudget.Period.values)}]})
    name = str(name or "").replace("\x00", "").strip()
    if len(name) > 200:
        raise InvalidInput(fields={"name": [_("At most 200 characters.")]})
    account = ad_account_get(account_id=ad_account_id, tenant_id=tenant_id)
    now = timezone.now()
    start, end = rules.period_bounds(period, now)
    budget = AdBudget.objects.create(ad_account=account, name=name, amount_total=amount_total, period=period,
                                     period_start=start, period_end=end, created_at=now, updated_at=now)
    _schedule_rollover(budget)
    audit_record(events.AD_BUDGET_CREATED, action="create", target_type="ad_budget", target_id=budget.pk,
                 after=_snapshot(budget), metadata={"ad_account_id": str(account.pk)})
    return budget


def lock_current_budget(budget_id: Any, *, now: datetime) -> AdBudget:
    """The budget of the running period that ``budget_id`` leads to, locked (lock level 2).

    A closed budget leads to its next period's row, locked after it (a chain is always locked oldest first, as
    the rollover does). A periodic budget whose period has ended is rolled over here, in the caller's
    transaction, so a spend always counts against the period it happens in even when the scheduled rollover is
    late.
    """
    budget = lock_budget(budget_id)
    while budget.closed_at is not None:
        budget = AdBudget.objects.select_for_update().get(previous_budget_id=budget.pk)
    if budget.period_end is not None and budget.period_end <= now:
        budget = _rollover_locked(budget, now=now)
    return budget


def stop_campaigns_locked(budget: AdBudget, *, reason: str) -> list[AdCampaign]:
    """Pause the running campaigns of a budget that the caller holds locked (they resume with a new period)."""
    stopped = []
    for campaign in AdCampaign.objects.select_for_update().filter(budget=budget, status=AdCampaign.Status.ACTIVE):
        stopped.append(campaign_transition(campaign, status=AdCampaign.Status.PAUSED,
                                           stop_reason=AdCampaign.StopReason.BUDGET_EXHAUSTED, reason=reason))
    return stopped


def resume_campaigns_locked(budget: AdBudget, *, reason: str) -> list[AdCampaign]:
    """Resume the campaigns that this budget's exhaustion paused (never those paused by someone)."""
    resumed = []
    account_active = AdAccount.objects.filter(pk=budget.ad_account_id, status=AdAccount.Status.ACTIVE).exists()
    if budget.status != AdBudget.Status.ACTIVE or not account_active:
        return resumed
    for campaign in AdCampaign.objects.select_for_update().filter(
            budget=budget, status=AdCampaign.Status.PAUSED, stop_reason=AdCampaign.StopReason.BUDGET_EXHAUSTED):
        resumed.append(campaign_transition(campaign, status=AdCampaign.Status.ACTIVE, reason=reason))
    return resumed


def exhaust_locked(budget: AdBudget) -> None:
    """The budget (locked) spent its total: mark it exhausted and stop its campaigns."""
    before = _snapshot(budget)
    budget.status, budget.updated_at = AdBudget.Status.EXHAUSTED, timezone.now()
    save_with_reason(budget, reason="exhausted", update_fields=["status", "updated_at"])
    stopped = stop_campaigns_locked(budget, reason=_("budget exhausted"))
    audit_record(events.AD_BUDGET_EXHAUSTED, action="exhaust", target_type="ad_budget", target_id=budget.pk,
                 before=before, after=_snapshot(budget),
                 metadata={"stopped_campaigns": [str(c.pk) for c in stopped]})


def _rollover_locked(budget: AdBudget, *, now: datetime) -> AdBudget:
    """Open the period containing ``now`` after ``budget`` (locked, current, its period over)."""
    start, end = rules.period_bounds(budget.period, now)
    status = AdBudget.Status.DISPUTED if budget.status == AdBudget.Status.DISPUTED else AdBudget.Status.ACTIVE
    successor = AdBudget.objects.create(
        ad_account_id=budget.ad_account_id, name=budget.name, amount_total=budget.amount_total, period=budget.period,
        status=status, disputed_reason=budget.disputed_reason if status == AdBudget.Status.DISPUTED else "",
        period_start=start, period_end=end, previous_budget=budget, created_at=now, updated_at=now)
    budget.closed_at, budget.updated_at = now, now
    save_with_reason(budget, reason="period closed", update_fields=["closed_at", "updated_at"])
    # A total staff set holds for the next periods too, as the total itself does.
    staff_locks_carry(source=budget, target=successor, reason=_("the budget's next period opened"))
    moved = []
    for campaign in AdCampaign.objects.select_for_update().filter(budget=budget).order_by("pk"):
        campaign.budget, campaign.updated_at = successor, now
        save_with_reason(campaign, reason="new budget period", update_fields=["budget", "updated_at"])
        moved.append(str(campaign.pk))
    resumed = resume_campaigns_locked(successor, reason=_("new budget period"))
    _schedule_rollover(successor)
    audit_record(events.AD_BUDGET_PERIOD_OPENED, action="rollover", target_type="ad_budget", target_id=successor.pk,
                 before=_snapshot(budget), after=_snapshot(successor),
                 metadata={"previous_budget_id": str(budget.pk), "moved_campaigns": moved,
                           "resumed_campaigns": [str(c.pk) for c in resumed]})
    return successor


@transaction.atomic
def budget_rollover(*, budget_id: Any, now: datetime | None = None) -> AdBudget | None:
    """Open the next period of a daily or monthly budget whose period has ended; None when there is nothing to do
    (not due yet, lifetime, or already rolled over). Safe to run any number of times."""
    now = now or timezone.now()
    budget = lock_budget(budget_id)
    if budget.closed_at is not None or budget.period_end is None or budget.period_end > now:
        return None
    return _rollover_locked(budget, now=now)


def budgets_rollover_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Roll over every budget whose period has ended (each in its own transaction). Returns how many opened."""
    now = now or timezone.now()
    due = list(AdBudget.objects.current().filter(period_end__lte=now).order_by("period_end")
               .values_list("pk", flat=True)[:limit])
    opened = 0
    for budget_id in due:
        if budget_rollover(budget_id=budget_id, now=now) is not None:
            opened += 1
    if opened:
        logger.info("ads: opened %d budget period(s)", opened)
    return opened


@transaction.atomic
def budget_set_amount(*, budget_id: Any, amount_total: int, tenant_id: Any = None, reason: str = "",
                      actor: Any = None) -> AdBudget:
    """Raise or lower a budget's total; never below what it already spent (409 ``amount_below_spent``).

    Reaching the spent amount exhausts the budget and stops its campaigns; raising an exhausted budget reopens it
    and resumes the campaigns its exhaustion had paused. Raising is refused under a kill switch (423). The next
    periods of a daily or monthly budget inherit the new total.

    A total a staff member (``actor``, from the console) sets is a ceiling for the tenant: its calls
    (``tenant_id`` given, the API and agents) may lower the total and raise it back up to that ceiling, never
    above it (409 ``status_locked_by_staff``), until staff lift the lock in the console.
    """
    amount_total = validate_amount(amount_total, field="amount_total")
    found = budget_get(budget_id=budget_id, tenant_id=tenant_id)
    budget = lock_budget(found.pk)
    if tenant_id is not None:
        budget_ceiling_check(budget=budget, amount_total=amount_total)
    elif is_staff_actor(actor):
        staff_lock_set(target=budget, field=AMOUNT_FIELD, tenant_id=found.ad_account.tenant_id,
                       value={"amount_total": amount_total}, reason=reason or _("set in the console"), actor=actor)
    scope, _reason = halted_by()
    limits = limits_for_tenant(tenant_id=found.ad_account.tenant_id)
    refusal = rules.amount_refusal(amount_total=amount_total, amount_spent=budget.amount_spent,
                                   closed=budget.closed_at is not None, raising=amount_total > budget.amount_total,
                                   halted_by=scope, tenant_kill_switch=bool(limits and limits.kill_switch))
    if refusal is not None:
        raise Conflict(refusal.message, code=refusal.code, status=refusal.status,
                       extra={**refusal.extra, **({"current_budget_id": str(budget.next_budget.pk)}
                                                  if refusal.code == errors.BUDGET_CLOSED else {})})
    if amount_total == budget.amount_total:
        return budget
    before = _snapshot(budget)
    budget.amount_total, budget.updated_at = amount_total, timezone.now()
    new_status = rules.status_after_amount(status=budget.status, amount_total=amount_total,
                                           amount_spent=budget.amount_spent)
    save_with_reason(budget, reason=reason or "amount changed", actor=actor,
                     update_fields=["amount_total", "updated_at"])
    audit_record(events.AD_BUDGET_AMOUNT_CHANGED, action="set_amount", target_type="ad_budget", target_id=budget.pk,
                 before=before, after=_snapshot(budget), reason=reason, **actor_kwargs(actor))
    if new_status == AdBudget.Status.EXHAUSTED and budget.status == AdBudget.Status.ACTIVE:
        exhaust_locked(budget)
    elif new_status == AdBudget.Status.ACTIVE and budget.status == AdBudget.Status.EXHAUSTED:
        before = _snapshot(budget)
        budget.status = AdBudget.Status.ACTIVE
        save_with_reason(budget, reason="reopened", actor=actor, update_fields=["status", "updated_at"])
        resumed = resume_campaigns_locked(budget, reason=_("budget raised"))
        audit_record(events.AD_BUDGET_REOPENED, action="reopen", target_type="ad_budget", target_id=budget.pk,
                     before=before, after=_snapshot(budget), reason=reason,
                     metadata={"resumed_campaigns": [str(c.pk) for c in resumed]}, **actor_kwargs(actor))
    return budget


AMOUNT_FIELD = "amount_total"


def budget_ceiling_check(*, budget: AdBudget, amount_total: int) -> None:
    """Refuse (``StaffLocked``) a tenant's total above the one staff set for ``budget``. Read under the budget's
    row lock by the service; without it by the simulation."""
    lock = staff_lock_in_force(budget, AMOUNT_FIELD)
    if lock is not None and amount_total > lock.value.get("amount_total", 0):
        raise StaffLocked(lock, attempted={"amount_total": amount_total})


@transaction.atomic
def budget_dispute(*, budget_id: Any, reason: str, tenant_id: Any = None, actor: Any = None) -> AdBudget:
    """Mark a budget disputed (its funding is contested): every spend on it is refused (409 ``budget_disputed``)
    until the dispute is resolved. Its campaigns keep their status."""
    reason = clean_reason(reason)
    found = budget_get(budget_id=budget_id, tenant_id=tenant_id)
    budget = lock_budget(found.pk)
    if budget.closed_at is not None:
        raise Conflict(_("This budget's period is over."), code=errors.BUDGET_CLOSED)
    if budget.status == AdBudget.Status.DISPUTED:
        return budget
    before = _snapshot(budget)
    budget.status, budget.disputed_reason, budget.updated_at = AdBudget.Status.DISPUTED, reason, timezone.now()
    save_with_reason(budget, reason=reason, actor=actor, update_fields=["status", "disputed_reason", "updated_at"])
    audit_record(events.AD_BUDGET_DISPUTED, action="dispute", target_type="ad_budget", target_id=budget.pk,
                 before=before, after=_snapshot(budget), reason=reason, **actor_kwargs(actor))
    return budget


@transaction.atomic
def budget_dispute_resolve(*, budget_id: Any, reason: str, tenant_id: Any = None, actor: Any = None) -> AdBudget:
    """End a dispute: the budget is active again (or exhausted, if it had spent its total)."""
    reason = clean_reason(reason)
    found = budget_get(budget_id=budget_id, tenant_id=tenant_id)
    budget = lock_budget(found.pk)
    if budget.status != AdBudget.Status.DISPUTED:
        raise Conflict(_("This budget is not disputed."), code=errors.BUDGET_STATE)
    before = _snapshot(budget)
    budget.status = rules.status_after_amount(status=AdBudget.Status.ACTIVE, amount_total=budget.amount_total,
                                              amount_spent=budget.amount_spent)
    budget.disputed_reason, budget.updated_at = "", timezone.now()
    save_with_reason(budget, reason=reason, actor=actor, update_fields=["status", "disputed_reason", "updated_at"])
    if budget.status == AdBudget.Status.EXHAUSTED:
        stop_campaigns_locked(budget, reason=_("budget exhausted"))
    else:
        resume_campaigns_locked(budget, reason=_("dispute resolved"))
    audit_record(events.AD_BUDGET_DISPUTE_RESOLVED, action="resolve", target_type="ad_budget", target_id=budget.pk,
                 before=before, after=_snapshot(budget), reason=reason, **actor_kwargs(actor))
    return budget
