"""Payment intents and the record of provider webhooks (catalog tables payment_intents, processed_webhooks)."""
from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from billing.models.accounts import BillingAccount, LedgerEntry
from identity.history import history_user


class Provider(models.TextChoices):
    STRIPE = "stripe", _("Stripe")
    LOCAL = "local", _("local provider")


class PaymentIntent(models.Model):
    """Money on its way in. The ledger is credited when the provider confirms it, once."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        CONFIRMED = "confirmed", _("confirmed")
        FAILED = "failed", _("failed")
        DISPUTED = "disputed", _("disputed")

    # Statuses only move up this order, whatever order the provider's events arrive in: a failed attempt can be
    # followed by a success (the customer retried), a dispute outranks everything.
    RANK = {Status.PENDING: 0, Status.FAILED: 1, Status.CONFIRMED: 2, Status.DISPUTED: 3}

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, db_column="intent_id")
    account = models.ForeignKey(BillingAccount, on_delete=models.PROTECT, related_name="payment_intents",
                                db_column="account_id", verbose_name=_("account"))
    app = models.ForeignKey("identity.Application", on_delete=models.PROTECT, null=True, blank=True,
                            related_name="billing_payment_intents", db_column="app_id", verbose_name=_("application"))
    amount = models.BigIntegerField(_("amount (cents)"))
    currency = models.CharField(_("currency"), max_length=3, default="BRL")
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    provider = models.CharField(_("provider"), max_length=16, choices=Provider.choices)
    stripe_intent_id = models.CharField(_("provider intent id"), max_length=255, unique=True, null=True, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=255, blank=True, default="")
    failure_reason = models.TextField(_("failure reason"), blank=True, default="")
    credit_entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, null=True, blank=True,
                                        related_name="+", verbose_name=_("credit entry"))
    dispute_id = models.CharField(_("provider dispute id"), max_length=255, blank=True, default="")
    disputed_amount = models.BigIntegerField(_("disputed amount (cents)"), null=True, blank=True)
    dispute_entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, null=True, blank=True,
                                         related_name="+", verbose_name=_("dispute debit entry"))
    # What a dispute could not take back because the balance had already been spent (reported, never negative).
    dispute_shortfall = models.BigIntegerField(_("dispute shortfall (cents)"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)

    history = HistoricalRecords(table_name="payment_intents_history", get_user=history_user)

    class Meta:
        db_table = "payment_intents"
        verbose_name = _("payment intent")
        verbose_name_plural = _("payment intents")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"], name="idx_intent_status")]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="payment_intent_amount_gt_0"),
        ]
        permissions = [("mark_local_succeeded", _("Can mark a local payment intent succeeded")),
                       ("refund_payment", _("Can refund a confirmed payment"))]

    def __str__(self) -> str:
        return f"{self.stripe_intent_id or self.id} {self.amount} {self.currency} ({self.status})"


class ProcessedWebhook(models.Model):
    """Each provider event, once. ``success`` is set only when its effect has been applied."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", _("applied")
        IGNORED = "ignored", _("ignored (unknown type or object)")
        FAILED = "failed", _("failed, will be retried")

    event_id = models.CharField(_("event id"), max_length=255, primary_key=True)
    event_type = models.CharField(_("event type"), max_length=128)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    success = models.BooleanField(_("success"), default=False)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices, default=Outcome.FAILED)
    detail = models.TextField(_("detail"), blank=True, default="")
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    payload = models.JSONField(_("payload"), default=dict)
    provider = models.CharField(_("provider"), max_length=16, choices=Provider.choices, default=Provider.STRIPE)
    received_at = models.DateTimeField(_("first received at"), default=timezone.now, editable=False)

    class Meta:
        db_table = "processed_webhooks"
        verbose_name = _("processed webhook")
        verbose_name_plural = _("processed webhooks")
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["success", "received_at"], name="idx_webhook_success")]

    def __str__(self) -> str:
        return f"{self.event_id} {self.event_type}"
