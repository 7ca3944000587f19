"""Payouts to a PIX key or a bank account (catalog table payouts)."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from billing.models.accounts import BillingAccount, LedgerEntry
from identity.history import history_user


class Payout(models.Model):
    """Money on its way out. The amount is held (debited) when requested and credited back if the payout fails."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")

    class Approval(models.TextChoices):
        NOT_REQUIRED = "not_required", _("not required")
        AWAITING = "awaiting", _("awaiting approval")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")

    class DestinationType(models.TextChoices):
        PIX = "pix", _("PIX key")
        BANK_ACCOUNT = "bank_account", _("bank account")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, db_column="payout_id")
    account = models.ForeignKey(BillingAccount, on_delete=models.PROTECT, related_name="payouts",
                                db_column="account_id", verbose_name=_("account"))
    app = models.ForeignKey("identity.Application", on_delete=models.PROTECT, null=True, blank=True,
                            related_name="billing_payouts", db_column="app_id", verbose_name=_("application"))
    amount = models.BigIntegerField(_("amount (cents)"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    destination = models.TextField(_("destination"), help_text=_("Normalised PIX key or bank account."))
    destination_type = models.CharField(_("destination type"), max_length=16, choices=DestinationType.choices)
    approval = models.CharField(_("approval"), max_length=16, choices=Approval.choices,
                                default=Approval.NOT_REQUIRED)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", verbose_name=_("approved or rejected by"))
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_reason = models.TextField(_("decision reason"), blank=True, default="")
    hold_entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, null=True, blank=True,
                                      related_name="+", verbose_name=_("hold (debit) entry"))
    reversal_entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, null=True, blank=True,
                                          related_name="+", verbose_name=_("reversal (credit) entry"))
    provider_reference = models.CharField(_("provider reference"), max_length=255, blank=True, default="")
    failure_reason = models.TextField(_("failure reason"), blank=True, default="")
    idempotency_key = models.CharField(_("idempotency key"), max_length=255, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    history = HistoricalRecords(table_name="payouts_history", get_user=history_user)

    class Meta:
        db_table = "payouts"
        verbose_name = _("payout")
        verbose_name_plural = _("payouts")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "approval"], name="idx_payout_status")]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="payout_amount_gt_0"),
        ]
        permissions = [("approve_payout", _("Can approve or reject payouts"))]

    def __str__(self) -> str:
        return f"{self.amount} → {self.destination_type} ({self.status})"
