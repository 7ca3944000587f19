"""Reads of the ads app. With ``tenant_id``, another tenant's object answers ``NotFound`` (404), never 403."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet
from django.utils import timezone

from ads import errors, rules
from ads.models import AdAccount, AdBudget, AdCampaign, AdGovernanceLimit, AdSpendEvent, AdTenantDailySpend
from core.db import prepared_cursor


def parse_uuid(value: Any) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def ad_accounts_for_tenant(*, tenant_id: Any) -> QuerySet[AdAccount]:
    return AdAccount.objects.for_tenant(parse_uuid(tenant_id)).order_by("-created_at", "id")


def ad_account_get(*, account_id: Any, tenant_id: Any = None) -> AdAccount:
    pk = parse_uuid(account_id)
    qs = AdAccount.objects.all() if tenant_id is None else AdAccount.objects.for_tenant(parse_uuid(tenant_id))
    found = qs.filter(pk=pk).first() if pk else None
    if found is None:
        raise errors.AdAccountNotFound()
    return found


def budgets_for_tenant(*, tenant_id: Any) -> QuerySet[AdBudget]:
    return AdBudget.objects.for_tenant(parse_uuid(tenant_id)).order_by("-created_at", "id")


def budget_get(*, budget_id: Any, tenant_id: Any = None) -> AdBudget:
    pk = parse_uuid(budget_id)
    qs = AdBudget.objects.select_related("ad_account")
    if tenant_id is not None:
        qs = qs.for_tenant(parse_uuid(tenant_id))
    found = qs.filter(pk=pk).first() if pk else None
    if found is None:
        raise errors.BudgetNotFound()
    return found


def budget_current(*, budget: AdBudget) -> AdBudget:
    """The budget of the running period in ``budget``'s chain (itself when it is not closed)."""
    while budget.closed_at is not None:
        budget = AdBudget.objects.get(previous_budget_id=budget.pk)
    return budget


def campaigns_for_tenant(*, tenant_id: Any) -> QuerySet[AdCampaign]:
    return AdCampaign.objects.for_tenant(parse_uuid(tenant_id)).select_related("budget").order_by("-created_at", "id")


def campaign_get(*, campaign_id: Any, tenant_id: Any = None) -> AdCampaign:
    pk = parse_uuid(campaign_id)
    qs = AdCampaign.objects.select_related("ad_account", "budget")
    if tenant_id is not None:
        qs = qs.for_tenant(parse_uuid(tenant_id))
    found = qs.filter(pk=pk).first() if pk else None
    if found is None:
        raise errors.CampaignNotFound()
    return found


@dataclass(frozen=True)
class SpendTarget:
    """What a spend needs to know about its campaign before it takes any lock (one light query)."""

    campaign_id: uuid.UUID
    budget_id: uuid.UUID
    tenant_id: uuid.UUID
    balance_account_id: uuid.UUID
    user_id: uuid.UUID
    name: str


# PostgreSQL: the spend's first read as SQL written once and prepared per connection (``core.db.prepared_cursor``): the
# ORM's compilation of this two-table query costs more than the round trip, on the hottest path of the ads app.
_SPEND_TARGET_SQL = ("SELECT c.id, c.budget_id, a.tenant_id, a.balance_account_id, a.user_id, c.name "
                     "FROM ad_campaigns c JOIN ad_accounts a ON a.id = c.ad_account_id WHERE c.id = %s")
_SPEND_TARGET_OF_TENANT_SQL = _SPEND_TARGET_SQL + " AND a.tenant_id = %s"


def spend_target_get(*, campaign_id: Any, tenant_id: Any = None) -> SpendTarget:
    pk = parse_uuid(campaign_id)
    tenant_pk = parse_uuid(tenant_id) if tenant_id is not None else None
    if pk is None or (tenant_id is not None and tenant_pk is None):
        raise errors.CampaignNotFound()
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor == "postgresql":
        with prepared_cursor(connection=connection) as cursor:
            if tenant_pk is None:
                cursor.execute(_SPEND_TARGET_SQL, [pk])
            else:
                cursor.execute(_SPEND_TARGET_OF_TENANT_SQL, [pk, tenant_pk])
            found = cursor.fetchone()
    else:
        qs = AdCampaign.objects.filter(pk=pk)
        if tenant_pk is not None:
            qs = qs.filter(ad_account__tenant_id=tenant_pk)
        found = qs.values_list("pk", "budget_id", "ad_account__tenant_id", "ad_account__balance_account_id",
                               "ad_account__user_id", "name").order_by().first()
    if found is None:
        raise errors.CampaignNotFound()
    return SpendTarget(*found)


def spend_events_for_campaign(*, campaign: AdCampaign) -> QuerySet[AdSpendEvent]:
    return AdSpendEvent.objects.filter(campaign=campaign).order_by("-created_at", "id")


def spend_applied_with_key(*, campaign_id: Any, idempotency_key: str) -> AdSpendEvent | None:
    if not idempotency_key:
        return None
    return (AdSpendEvent.objects.select_related("budget")
            .filter(campaign_id=campaign_id, idempotency_key=idempotency_key, status=AdSpendEvent.Status.APPLIED)
            .first())


def limits_for_tenant(*, tenant_id: Any) -> AdGovernanceLimit | None:
    return AdGovernanceLimit.objects.filter(tenant_id=parse_uuid(tenant_id)).first()


def tenant_spent_on(*, tenant_id: Any, day) -> int:
    row = AdTenantDailySpend.objects.filter(tenant_id=parse_uuid(tenant_id), day=day).values_list("amount_spent",
                                                                                              flat=True).first()
    return row or 0


def tenant_spent_today(*, tenant_id: Any) -> int:
    return tenant_spent_on(tenant_id=tenant_id, day=rules.spend_day(timezone.now()))
