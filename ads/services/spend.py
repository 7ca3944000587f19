"""Spending: the one way a budget's ``amount_spent`` and a campaign's ``total_spent`` grow.

A spend is applied in one transaction, or not at all:

1. kill switches ``ads`` / ``all`` (and ``billing`` inside the ledger), checked before any lock;
2. the tenant's limits row locked (lock level 1): its own kill switch, ``max_spend_per_day`` against the tenant's
   counter for the day, ``max_spend_per_campaign`` against the campaign's total;
3. the campaign's current budget locked (level 2; a period that has ended is rolled over first), then the
   campaign (level 3): account active, campaign active, budget neither disputed nor short of the amount;
4. the user's billing account debited through ``billing.services.ledger.ledger_post`` (level 4: it locks the
   account and refuses an overdraft);
5. an ``applied`` spend event linked to its ledger entry, ``amount_spent``, ``total_spent`` and the daily counter
   raised, the audit event staged; a budget that reaches its total becomes ``exhausted`` and stops its campaigns.

A refusal rolls all of that back and then writes one ``failed`` spend event with the reason, in a transaction of
its own, and raises the refusal (error code = reason). A spend with an idempotency key is applied at most once per
campaign and key: a retry returns the first applied event (``replayed``) without moving money again.
"""
from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from ads import errors, events, rules
from ads.models import AdBudget, AdCampaign, AdSpendEvent, AdTenantDailySpend
from ads.selectors import SpendTarget, spend_applied_with_key, spend_target_get
from ads.services.budgets import exhaust_locked, lock_current_budget
from ads.services.common import halted_by, lock_campaign, lock_limits, raise_refusal
from audit.chain import format_time
from audit.services import STAGE_COLUMNS, audit_event_values, audit_record, audit_staged, stage_params
from billing.models import MAX_BALANCE, LedgerEntry
from billing.services.ledger import (
    POSTED_COLUMNS,
    POSTED_EVENTS_SQL,
    ledger_post,
    posted_entry,
    posted_events_params,
    validate_amount,
)
from core.db import prepared_cursor
from core.errors import Conflict, InvalidInput, NotFound, ServiceError
from identity.models import Application
from identity.selectors import person_reachable
from infrastructure.services.killswitches import killswitch_is_halted

MAX_QUANTITY = 10**12
MAX_KEY = 400


@dataclass(frozen=True)
class SpendOutcome:
    event: AdSpendEvent
    budget_remaining: int
    replayed: bool = False

    def as_dict(self) -> dict[str, Any]:
        event = self.event
        return {"id": event.pk, "status": event.status, "ledger_entry_id": event.ledger_entry_id,
                "budget_remaining": self.budget_remaining, "campaign_id": event.campaign_id,
                "budget_id": event.budget_id, "amount": event.amount, "quantity": event.quantity, "unit": event.unit,
                "created_at": event.created_at, "replayed": self.replayed}


def clean_spend(*, amount: Any, quantity: Any, unit: Any, idempotency_key: Any = "") -> tuple[int, int, str, str]:
    """Validated (amount, quantity, unit, key); bad input is a 400 and records nothing."""
    amount = validate_amount(amount)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidInput(fields={"quantity": [_("A whole number between 1 and %(max)d.") % {"max": MAX_QUANTITY}]})
    if unit not in AdSpendEvent.Unit.values:
        raise InvalidInput(fields={"unit": [_("Must be one of: %(v)s.") % {"v": ", ".join(AdSpendEvent.Unit.values)}]})
    key = "" if idempotency_key is None else str(idempotency_key)
    if len(key) > MAX_KEY or "\x00" in key:
        raise InvalidInput(fields={"idempotency_key": [_("At most %(n)d characters.") % {"n": MAX_KEY}]})
    return amount, quantity, unit, key


def campaign_spend(*, campaign_id: Any, amount: int, quantity: int, unit: str, idempotency_key: str = "",
                   tenant_id: Any = None, app: Application | None = None) -> SpendOutcome:
    """Spend ``amount`` cents for ``quantity`` ``unit``s of a campaign (see the module docstring).

    Raises 400 for bad input, 404 for an unknown campaign (or another tenant's, with ``tenant_id``), 423
    ``kill_switch_active``, and 409 ``campaign_not_active`` / ``budget_exhausted`` / ``budget_disputed`` /
    ``tenant_daily_limit`` / ``tenant_campaign_limit`` / ``insufficient_funds`` / ``ad_account_suspended``. Called
    inside a caller's transaction, the failed event is written in a savepoint after the rollback of the spend's
    own and commits with the caller's.

    Asked by an application (``app``), the ad account's holder must have proved themselves through it
    (``billing.tenancy``): 404 ``app_user_unproven`` otherwise, nothing written. The debit draws only on the
    tenant's funds in the holder's account.
    """
    amount, quantity, unit, key = clean_spend(amount=amount, quantity=quantity, unit=unit,
                                              idempotency_key=idempotency_key)
    target = spend_target_get(campaign_id=campaign_id, tenant_id=tenant_id)
    if app is not None and not person_reachable(app_id=app.pk, user_id=target.user_id):
        raise NotFound(_("The ad account's holder has not proved their identity to this application."),
                       code="app_user_unproven")
    if key:
        existing = spend_applied_with_key(campaign_id=target.campaign_id, idempotency_key=key)
        if existing is not None:
            return _replay(existing)
    if connection.vendor == "postgresql":
        applied = _apply_in_one_statement(target, amount=amount, quantity=quantity, unit=unit, key=key,
                                          now=timezone.now())
        if applied is not None:
            return applied
    try:
        with transaction.atomic():
            return _apply(target, amount=amount, quantity=quantity, unit=unit, key=key, now=timezone.now())
    except ServiceError as exc:
        if exc.code not in errors.REFUSALS:
            raise
        refusal = exc
    _record_failed(target, amount=amount, quantity=quantity, unit=unit, key=key, refusal=refusal)
    raise refusal


def _replay(event: AdSpendEvent) -> SpendOutcome:
    remaining = AdBudget.objects.values_list("amount_total", "amount_spent").get(pk=event.budget_id)
    return SpendOutcome(event=event, budget_remaining=remaining[0] - remaining[1], replayed=True)


def _apply(target: SpendTarget, *, amount: int, quantity: int, unit: str, key: str, now: datetime) -> SpendOutcome:
    tenant_id = target.tenant_id
    scope, reason = halted_by()
    if scope:  # before any lock: a halted system does not queue on rows
        raise_refusal(rules.Refusal(errors.KILL_SWITCH_ACTIVE, _("Halted by the %(scope)s kill switch: %(reason)s")
                                    % {"scope": scope, "reason": reason}, {"scope": scope}))
    limits = lock_limits(tenant_id)                                    # level 1
    budget = lock_current_budget(target.budget_id, now=now)            # level 2
    locked = lock_campaign(target.campaign_id, with_account=True)      # level 3
    if locked.budget_id != budget.pk:  # only a rollover moves campaigns, and it holds the budget lock we now hold
        raise Conflict(_("The campaign changed budget during the spend; retry."), code=errors.BUDGET_STATE)
    if key:
        # A concurrent request with the same key committed while this one waited for the locks.
        existing = spend_applied_with_key(campaign_id=target.campaign_id, idempotency_key=key)
        if existing is not None:
            return _replay(existing)
    day = rules.spend_day(now)
    # The day's counter matters only under a daily cap; it is kept either way, for when a cap is set mid-day.
    spent_today = 0
    if limits.max_spend_per_day is not None:
        spent_today = (AdTenantDailySpend.objects.filter(tenant_id=tenant_id, day=day)
                       .values_list("amount_spent", flat=True).first() or 0)
    state = rules.SpendState(
        halted_by=None, halted_reason="",
        tenant_kill_switch=limits.kill_switch, tenant_kill_switch_reason=limits.kill_switch_reason,
        account_status=locked.ad_account.status,
        campaign_status=locked.status, campaign_total_spent=locked.total_spent,
        budget_status=budget.status, budget_total=budget.amount_total, budget_spent=budget.amount_spent,
        max_spend_per_day=limits.max_spend_per_day, spent_today=spent_today,
        max_spend_per_campaign=limits.max_spend_per_campaign,
    )
    refusal = rules.spend_refusal(state, amount)
    if refusal is not None:
        raise_refusal(refusal)

    event_id = uuid.uuid4()
    entry = ledger_post(account_id=target.balance_account_id, type=LedgerEntry.Type.DEBIT,  # level 4
                        amount=amount, description=_("Ad spend: %(campaign)s") % {"campaign": locked.name[:200]},
                        reference_id=f"ad_spend:{event_id}", tenant_id=tenant_id)  # within the tenant's funds
    event = AdSpendEvent(id=event_id, campaign_id=locked.pk, budget_id=budget.pk, tenant_id=tenant_id, amount=amount,
                         quantity=quantity, unit=unit, status=AdSpendEvent.Status.APPLIED, ledger_entry=entry,
                         idempotency_key=key, created_at=now)
    event.save()
    _raise_counters(budget_id=budget.pk, campaign_id=locked.pk, tenant_id=tenant_id, day=day, amount=amount, now=now)
    budget.amount_spent += amount
    audit_record(events.AD_SPEND_APPLIED, action="spend", target_type="ad_spend_event", target_id=event_id,
                 after={"amount": amount, "quantity": quantity, "unit": unit, "ledger_entry_id": entry.pk,
                        "budget_spent": budget.amount_spent, "budget_total": budget.amount_total,
                        "campaign_total_spent": locked.total_spent + amount},
                 metadata={"campaign_id": str(locked.pk), "budget_id": str(budget.pk), "tenant_id": str(tenant_id),
                           "idempotency_key": key, "created_at": format_time(now)})
    if budget.amount_spent >= budget.amount_total:
        exhaust_locked(budget)
    return SpendOutcome(event=event, budget_remaining=budget.remaining)


# PostgreSQL: the spend as one statement. ``ads_spend_apply`` (migration ads 0002) takes the locks in the spend's
# order and applies the spend when nothing stands in its way, posting the debit through billing's
# ``ledger_post_apply``; the statement stages the ledger entry's event as billing's own statements do
# (``POSTED_EVENTS_SQL``) and the spend's event, whose ``after`` holds three counters only the function knows,
# spliced into its canonical JSON where ``_COUNTER_MARKS`` stand.
_COUNTER_MARKS = {"budget_spent": -1, "budget_total": -2, "campaign_total_spent": -3}


@functools.cache
def _spend_apply_sql(counters: tuple[str, ...]) -> str:
    """The statement, for the counters in the order they appear in the spend event's ``after``."""
    after = " || ".join([part for name in counters for part in ("%s", f"p.{name}")] + ["%s"])
    values = ", ".join(after if column == "after" else "%s" for column in STAGE_COLUMNS)
    return (
        "WITH posted AS (SELECT * FROM ads_spend_apply(" + ", ".join(["%s"] * 16) + ")), "  # noqa: S608 - fixed
        + POSTED_EVENTS_SQL + ", spend_staged AS (INSERT INTO audit_staging (" + ", ".join(STAGE_COLUMNS) + ") "
        "SELECT " + values + " FROM posted p WHERE p.refusal IS NULL) "
        "SELECT " + POSTED_COLUMNS + ", budget_spent, budget_total, campaign_total_spent FROM posted"
    )


def _around_counters(text: str) -> tuple[list[str], list[str]]:
    """The canonical ``after`` of a spend's event cut around its counters: the pieces between them, and the counters'
    names in the order they appear (the order of the keys in canonical JSON)."""
    found = sorted((text.index(f'"{name}":{mark}'), name, mark) for name, mark in _COUNTER_MARKS.items())
    pieces, names, at = [], [], 0
    for position, name, mark in found:
        cut = position + len(f'"{name}":')
        pieces.append(text[at:cut])
        names.append(name)
        at = cut + len(str(mark))
    pieces.append(text[at:])
    return pieces, names


def _apply_in_one_statement(target: SpendTarget, *, amount: int, quantity: int, unit: str, key: str,
                            now: datetime) -> SpendOutcome | None:
    """The spend in one statement (PostgreSQL), when no kill switch is in force and ``ads_spend_apply`` finds
    nothing in its way; None when it wrote nothing, and the locking path (``_apply``) decides."""
    if halted_by()[0] is not None or killswitch_is_halted("billing"):
        return None
    event_id, entry_id = uuid.uuid4(), uuid.uuid4()
    tenant_id = target.tenant_id
    entry = LedgerEntry(id=entry_id, account_id=target.balance_account_id, type=LedgerEntry.Type.DEBIT, amount=amount,
                        description=_("Ad spend: %(campaign)s") % {"campaign": target.name[:200]},
                        reference_id=f"ad_spend:{event_id}", corrects=None, tenant_id=tenant_id, created_at=now)
    spend_event = audit_event_values(
        events.AD_SPEND_APPLIED, action="spend", target_type="ad_spend_event", target_id=event_id,
        after={"amount": amount, "quantity": quantity, "unit": unit, "ledger_entry_id": entry_id, **_COUNTER_MARKS},
        metadata={"campaign_id": str(target.campaign_id), "budget_id": str(target.budget_id),
                  "tenant_id": str(tenant_id), "idempotency_key": key, "created_at": format_time(now)})
    pieces, names = _around_counters(spend_event["after"])
    staged = []
    for column, value in zip(STAGE_COLUMNS, stage_params(spend_event), strict=True):
        staged.extend(pieces if column == "after" else [value])
    params = [target.campaign_id, target.budget_id, tenant_id, target.balance_account_id, target.name, amount,
              quantity, unit, key, rules.spend_day(now), event_id, entry_id, entry.description, entry.reference_id,
              MAX_BALANCE, now, *posted_events_params([entry]), *staged]
    with prepared_cursor() as cursor:
        cursor.execute(_spend_apply_sql(tuple(names)), params)
        row = cursor.fetchone()
    if row[1] is not None:
        return None
    audit_staged()
    entry = posted_entry(entry, row=row)
    event = AdSpendEvent(id=event_id, campaign_id=target.campaign_id, budget_id=target.budget_id, tenant_id=tenant_id,
                         amount=amount, quantity=quantity, unit=unit, status=AdSpendEvent.Status.APPLIED,
                         ledger_entry_id=entry_id, idempotency_key=key, created_at=now)
    event._state.adding, event._state.db = False, connection.alias
    return SpendOutcome(event=event, budget_remaining=row[8] - row[7])


# The three counters in one round trip (data-modifying CTEs all run, whether or not the outer query reads them).
_PG_RAISE_COUNTERS = """
WITH budget AS (
    UPDATE ad_budgets SET amount_spent = amount_spent + %(amount)s, updated_at = %(now)s WHERE id = %(budget)s
    RETURNING 1
), campaign AS (
    UPDATE ad_campaigns SET total_spent = total_spent + %(amount)s, updated_at = %(now)s WHERE id = %(campaign)s
    RETURNING 1
)
INSERT INTO ad_tenant_daily_spend (id, tenant_id, day, amount_spent, spend_count, updated_at)
VALUES (%(daily)s, %(tenant)s, %(day)s, %(amount)s, 1, %(now)s)
ON CONFLICT (tenant_id, day) DO UPDATE SET amount_spent = ad_tenant_daily_spend.amount_spent + EXCLUDED.amount_spent,
    spend_count = ad_tenant_daily_spend.spend_count + 1, updated_at = EXCLUDED.updated_at
RETURNING (SELECT count(*) FROM budget), (SELECT count(*) FROM campaign)
"""


def _raise_counters(*, budget_id, campaign_id, tenant_id, day, amount: int, now: datetime) -> None:
    """Raise the budget's, the campaign's and the tenant's day counters (their rows are locked by the caller)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_PG_RAISE_COUNTERS, {"amount": amount, "now": now, "budget": budget_id,
                                                "campaign": campaign_id, "daily": uuid.uuid4(), "tenant": tenant_id,
                                                "day": day})
            if cursor.fetchone() != (1, 1):
                raise RuntimeError("ads: a locked budget or campaign row vanished during a spend")
        return
    AdBudget.objects.filter(pk=budget_id).update(amount_spent=F("amount_spent") + amount, updated_at=now)
    AdCampaign.objects.filter(pk=campaign_id).update(total_spent=F("total_spent") + amount, updated_at=now)
    # No race on the first spend of the day: the tenant's limits row lock serialises this tenant's spends.
    if not AdTenantDailySpend.objects.filter(tenant_id=tenant_id, day=day).update(
            amount_spent=F("amount_spent") + amount, spend_count=F("spend_count") + 1, updated_at=now):
        AdTenantDailySpend.objects.create(tenant_id=tenant_id, day=day, amount_spent=amount, spend_count=1,
                                          updated_at=now)


def _record_failed(target: SpendTarget, *, amount: int, quantity: int, unit: str, key: str,
                   refusal: ServiceError) -> AdSpendEvent:
    """The refused spend's evidence, written after the spend's rollback in a transaction (or savepoint) of its own."""
    with transaction.atomic():
        event = AdSpendEvent.objects.create(
            campaign_id=target.campaign_id, budget_id=target.budget_id, tenant_id=target.tenant_id,
            amount=amount, quantity=quantity, unit=unit, status=AdSpendEvent.Status.FAILED,
            failure_reason=refusal.code, failure_message=refusal.message[:2000], idempotency_key=key)
        audit_record(events.AD_SPEND_REFUSED, action="spend", target_type="ad_spend_event", target_id=event.pk,
                     after={"amount": amount, "quantity": quantity, "unit": unit, "status": event.status},
                     reason=refusal.code,
                     metadata={"campaign_id": str(target.campaign_id), "budget_id": str(target.budget_id),
                               "message": refusal.message, "idempotency_key": key, **_jsonable(refusal.extra),
                               # After the refusal's details, which cannot then shadow them: the row's columns.
                               "tenant_id": str(target.tenant_id), "created_at": format_time(event.created_at)})
    return event


def _jsonable(extra: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, (int, str, bool, type(None))) else str(v) for k, v in (extra or {}).items()}
