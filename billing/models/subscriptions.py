"""Recurring subscriptions (catalog table subscriptions)."""
from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from billing.models.accounts import BillingAccount
from billing.models.payments import Provider
from identity.history import history_user


class Subscription(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        CANCELED = "canceled", _("canceled")
        PAST_DUE = "past_due", _("past due")

    class Interval(models.TextChoices):
        MONTH = "month", _("month")
        YEAR = "year", _("year")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, db_column="subscription_id")
    account = models.ForeignKey(BillingAccount, on_delete=models.PROTECT, related_name="subscriptions",
                                db_column="account_id", verbose_name=_("account"))
    app = models.ForeignKey("identity.Application", on_delete=models.PROTECT, null=True, blank=True,
                            related_name="billing_subscriptions", db_column="app_id", verbose_name=_("application"))
    plan_id = models.CharField(_("plan"), max_length=128)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    amount = models.BigIntegerField(_("amount (cents)"))
    currency = models.CharField(_("currency"), max_length=3, default="BRL")
    interval = models.CharField(_("interval"), max_length=8, choices=Interval.choices)
    provider = models.CharField(_("provider"), max_length=16, choices=Provider.choices)
    stripe_subscription_id = models.CharField(_("provider subscription id"), max_length=255, unique=True, null=True,
                                              blank=True)
    current_period_end = models.DateTimeField(_("current period ends"), null=True, blank=True)
    # The provider time of the newest event applied: older events arriving late never undo newer ones.
    provider_event_at = models.DateTimeField(_("newest provider event at"), null=True, blank=True)
    canceled_at = models.DateTimeField(_("canceled at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords(table_name="subscriptions_history", get_user=history_user)

    class Meta:
        db_table = "subscriptions"
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="subscription_amount_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.plan_id} {self.amount}/{self.interval} ({self.status})"
