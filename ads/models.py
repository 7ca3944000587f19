"""Catalog domain Ads: ad accounts, budgets, campaigns, spend events and per-tenant governance limits.

Money is integer cents. ``amount_spent`` of a budget and ``total_spent`` of a campaign change only through
``ads.services.spend.campaign_spend`` (each increase is one applied spend event linked to one ledger entry);
a new period of a daily or monthly budget is a new budget row, so ``amount_spent`` never goes down.
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from audit.immutable import AppendOnlyModel
from billing.models import MAX_AMOUNT
from identity.history import history_user


class AdAccountQuerySet(models.QuerySet):
    def for_tenant(self, tenant_id) -> AdAccountQuerySet:
        return self.filter(tenant_id=tenant_id)


class AdAccount(models.Model):
    """An advertiser: draws on the billing account of ``user`` (a user of the tenant)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        SUSPENDED = "suspended", _("suspended")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                               db_column="tenant_id", verbose_name=_("tenant"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ad_accounts",
                             db_column="user_id", verbose_name=_("user"))
    balance_account = models.ForeignKey("billing.BillingAccount", on_delete=models.PROTECT, related_name="ad_accounts",
                                        db_column="balance_account_id", verbose_name=_("billing account"))
    name = models.CharField(_("name"), max_length=200)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    history = HistoricalRecords(get_user=history_user)
    objects = AdAccountQuerySet.as_manager()

    class Meta:
        db_table = "ad_accounts"
        verbose_name = _("ad account")
        verbose_name_plural = _("ad accounts")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "created_at"], name="idx_ad_accounts_tenant")]

    def __str__(self) -> str:
        return self.name


class AdBudgetQuerySet(models.QuerySet):
    def current(self) -> AdBudgetQuerySet:
        """Budgets of the running period (a closed budget was followed by its next period's row)."""
        return self.filter(closed_at__isnull=True)

    def for_tenant(self, tenant_id) -> AdBudgetQuerySet:
        return self.filter(ad_account__tenant_id=tenant_id)


class AdBudget(models.Model):
    """What a set of campaigns may spend in one period.

    A daily or monthly budget covers ``[period_start, period_end)``; when that ends, the next period is a new row
    (``previous_budget`` points back, this one gets ``closed_at``) and the campaigns move to it. A lifetime budget
    has no ``period_end``.
    """

    class Period(models.TextChoices):
        DAILY = "daily", _("daily")
        MONTHLY = "monthly", _("monthly")
        LIFETIME = "lifetime", _("lifetime")

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        EXHAUSTED = "exhausted", _("exhausted")
        DISPUTED = "disputed", _("disputed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    ad_account = models.ForeignKey(AdAccount, on_delete=models.PROTECT, related_name="budgets",
                                   db_column="ad_account_id", verbose_name=_("ad account"))
    name = models.CharField(_("name"), max_length=200, blank=True, default="")
    amount_total = models.BigIntegerField(_("total (cents)"))
    amount_spent = models.BigIntegerField(_("spent (cents)"), default=0, editable=False,
                                          help_text=_("Grows only through applied spend events."))
    period = models.CharField(_("period"), max_length=16, choices=Period.choices, default=Period.LIFETIME)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    period_start = models.DateTimeField(_("period start"), default=timezone.now)
    period_end = models.DateTimeField(_("period end"), null=True, blank=True,
                                      help_text=_("Exclusive; empty for lifetime budgets."))
    previous_budget = models.OneToOneField("self", on_delete=models.PROTECT, null=True, blank=True,
                                           related_name="next_budget", db_column="previous_budget_id",
                                           verbose_name=_("previous period"))
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True,
                                     help_text=_("When the next period's budget replaced this one."))
    disputed_reason = models.TextField(_("dispute reason"), blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    history = HistoricalRecords(get_user=history_user)
    objects = AdBudgetQuerySet.as_manager()

    class Meta:
        db_table = "ad_budgets"
        verbose_name = _("ad budget")
        verbose_name_plural = _("ad budgets")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["ad_account", "created_at"], name="idx_ad_budgets_account"),
            # The rollover sweep: open periodic budgets whose period has ended.
            models.Index(fields=["period_end"], condition=Q(closed_at__isnull=True) & Q(period_end__isnull=False),
                         name="idx_ad_budgets_due"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount_total__gte=1) & Q(amount_total__lte=MAX_AMOUNT),
                                   name="ad_budget_total_in_range"),
            models.CheckConstraint(condition=Q(amount_spent__gte=0) & Q(amount_spent__lte=models.F("amount_total")),
                                   name="ad_budget_spent_within_total"),
            models.CheckConstraint(condition=Q(period="lifetime", period_end__isnull=True)
                                   | (~Q(period="lifetime") & Q(period_end__gt=models.F("period_start"))),
                                   name="ad_budget_period_bounds"),
            models.CheckConstraint(condition=Q(period__in=["daily", "monthly", "lifetime"]),
                                   name="ad_budget_period_valid"),
            models.CheckConstraint(condition=Q(status__in=["active", "exhausted", "disputed"]),
                                   name="ad_budget_status_valid"),
        ]

    def __str__(self) -> str:
        label = self.name or str(self.id)[:8]
        return f"{label} ({self.period}, {self.amount_spent}/{self.amount_total})"

    @property
    def remaining(self) -> int:
        return self.amount_total - self.amount_spent

    @property
    def is_current(self) -> bool:
        return self.closed_at is None


class AdCampaignQuerySet(models.QuerySet):
    def for_tenant(self, tenant_id) -> AdCampaignQuerySet:
        return self.filter(ad_account__tenant_id=tenant_id)

    def active(self) -> AdCampaignQuerySet:
        return self.filter(status=AdCampaign.Status.ACTIVE)


class AdCampaign(models.Model):
    class Objective(models.TextChoices):
        IMPRESSIONS = "impressions", _("impressions")
        CLICKS = "clicks", _("clicks")
        CONVERSIONS = "conversions", _("conversions")

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        ACTIVE = "active", _("active")
        PAUSED = "paused", _("paused")
        COMPLETED = "completed", _("completed")

    class StopReason(models.TextChoices):
        """Why a campaign is paused: only the budget's own stops are lifted by a new period or a raise."""

        MANUAL = "manual", _("paused by a person or an agent")
        BUDGET_EXHAUSTED = "budget_exhausted", _("its budget was exhausted")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    ad_account = models.ForeignKey(AdAccount, on_delete=models.PROTECT, related_name="campaigns",
                                   db_column="ad_account_id", verbose_name=_("ad account"))
    budget = models.ForeignKey(AdBudget, on_delete=models.PROTECT, related_name="campaigns", db_column="budget_id",
                               verbose_name=_("budget"))
    name = models.CharField(_("name"), max_length=200)
    objective = models.CharField(_("objective"), max_length=16, choices=Objective.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    stop_reason = models.CharField(_("stop reason"), max_length=32, choices=StopReason.choices, blank=True,
                                   default="")
    total_spent = models.BigIntegerField(_("total spent (cents)"), default=0, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    history = HistoricalRecords(get_user=history_user)
    objects = AdCampaignQuerySet.as_manager()

    class Meta:
        db_table = "ad_campaigns"
        verbose_name = _("ad campaign")
        verbose_name_plural = _("ad campaigns")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["ad_account", "created_at"], name="idx_ad_campaigns_account"),
            models.Index(fields=["budget", "status"], name="idx_ad_campaigns_budget"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(total_spent__gte=0), name="ad_campaign_total_spent_gte_0"),
            models.CheckConstraint(condition=Q(status__in=["draft", "active", "paused", "completed"]),
                                   name="ad_campaign_status_valid"),
            models.CheckConstraint(condition=Q(objective__in=["impressions", "clicks", "conversions"]),
                                   name="ad_campaign_objective_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class AdSpendEvent(AppendOnlyModel):
    """One attempt to spend, written once in its final state and never changed.

    ``applied``: the ledger was debited (``ledger_entry``) and the budget and campaign counters raised, all in one
    transaction. ``failed``: refused with ``failure_reason`` (an error code); nothing else was written. ``pending`` is
    in the catalog's value set but never stored: there is no state between the two outcomes.
    """

    class Unit(models.TextChoices):
        IMPRESSION = "impression", _("impression")
        CLICK = "click", _("click")
        CONVERSION = "conversion", _("conversion")

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        APPLIED = "applied", _("applied")
        FAILED = "failed", _("failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    campaign = models.ForeignKey(AdCampaign, on_delete=models.PROTECT, related_name="spend_events",
                                 db_column="campaign_id", db_index=False, verbose_name=_("campaign"))
    budget = models.ForeignKey(AdBudget, on_delete=models.PROTECT, related_name="spend_events", db_column="budget_id",
                               verbose_name=_("budget"))
    # Denormalised from the campaign, so that a tenant's spend reads without a join.
    tenant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                               db_column="tenant_id", db_index=False, verbose_name=_("tenant"))
    amount = models.BigIntegerField(_("amount (cents)"))
    quantity = models.BigIntegerField(_("quantity"))
    unit = models.CharField(_("unit"), max_length=16, choices=Unit.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    ledger_entry = models.OneToOneField("billing.LedgerEntry", on_delete=models.PROTECT, null=True, blank=True,
                                        related_name="ad_spend_event", db_column="ledger_entry_id",
                                        verbose_name=_("ledger entry"))
    failure_reason = models.CharField(_("failure reason"), max_length=64, blank=True, default="",
                                      help_text=_("The error code of a refused spend."))
    failure_message = models.TextField(_("failure message"), blank=True, default="")
    idempotency_key = models.CharField(_("idempotency reference"), max_length=400, blank=True, default="",
                                       help_text=_("The caller's key: an applied spend exists once per campaign "
                                                   "and key."))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        db_table = "ad_spend_events"
        verbose_name = _("ad spend event")
        verbose_name_plural = _("ad spend events")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["campaign", "created_at"], name="idx_ad_spend_campaign"),
            models.Index(fields=["tenant", "created_at"], name="idx_ad_spend_tenant"),
            models.Index(fields=["status", "created_at"], name="idx_ad_spend_status"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=1) & Q(amount__lte=MAX_AMOUNT),
                                   name="ad_spend_amount_in_range"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="ad_spend_quantity_gte_1"),
            models.CheckConstraint(condition=Q(unit__in=["impression", "click", "conversion"]),
                                   name="ad_spend_unit_valid"),
            # An applied spend has its ledger entry; a failed one has a reason and no entry.
            models.CheckConstraint(
                condition=(Q(status="applied", ledger_entry__isnull=False, failure_reason="")
                           | Q(status="failed", ledger_entry__isnull=True) & ~Q(failure_reason="")
                           | Q(status="pending", ledger_entry__isnull=True)),
                name="ad_spend_status_consistent"),
            # A retried spend applies once: one applied event per campaign and idempotency key.
            models.UniqueConstraint(fields=["campaign", "idempotency_key"],
                                    condition=Q(status="applied") & ~Q(idempotency_key=""),
                                    name="uniq_ad_spend_applied_key"),
        ]

    def __str__(self) -> str:
        return f"{self.status} {self.amount} ({self.quantity} {self.unit})"


class AdGovernanceLimit(models.Model):
    """A tenant's spending limits (empty = no limit) and its own kill switch for ads."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                  db_column="tenant_id", verbose_name=_("tenant"))
    max_spend_per_day = models.BigIntegerField(_("max spend per day (cents)"), null=True, blank=True,
                                               help_text=_("All the tenant's campaigns together, per calendar day. "
                                                           "Empty: no limit."))
    max_spend_per_campaign = models.BigIntegerField(_("max spend per campaign (cents)"), null=True, blank=True,
                                                    help_text=_("A campaign's total over its whole life. "
                                                                "Empty: no limit."))
    kill_switch = models.BooleanField(_("kill switch"), default=False,
                                      help_text=_("Refuses every spend of the tenant while on."))
    kill_switch_reason = models.TextField(_("kill switch reason"), blank=True, default="")
    kill_switch_activated_at = models.DateTimeField(_("kill switch activated at"), null=True, blank=True)
    kill_switch_activated_by = models.UUIDField(_("kill switch activated by"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    history = HistoricalRecords(get_user=history_user)

    class Meta:
        db_table = "ad_governance_limits"
        verbose_name = _("ad governance limits")
        verbose_name_plural = _("ad governance limits")
        ordering = ["-updated_at"]
        constraints = [
            models.CheckConstraint(condition=Q(max_spend_per_day__isnull=True) | Q(max_spend_per_day__gte=0),
                                   name="ad_limits_day_gte_0"),
            models.CheckConstraint(condition=Q(max_spend_per_campaign__isnull=True)
                                   | Q(max_spend_per_campaign__gte=0), name="ad_limits_campaign_gte_0"),
        ]

    def __str__(self) -> str:
        return f"limits of {self.tenant_id}"


class AdTenantDailySpend(models.Model):
    """What a tenant's campaigns spent on one day: the counter that ``max_spend_per_day`` is checked against.

    Raised in the spend's transaction under the lock of the tenant's limits row, so concurrent spends see each
    other's totals.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                               db_column="tenant_id", db_index=False, verbose_name=_("tenant"))
    day = models.DateField(_("day"))
    amount_spent = models.BigIntegerField(_("spent (cents)"), default=0)
    spend_count = models.PositiveIntegerField(_("applied spends"), default=0)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        db_table = "ad_tenant_daily_spend"
        verbose_name = _("tenant daily ad spend")
        verbose_name_plural = _("tenant daily ad spend")
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "day"], name="uniq_ad_daily_spend_tenant_day"),
            models.CheckConstraint(condition=Q(amount_spent__gte=0), name="ad_daily_spend_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.day}: {self.amount_spent}"
