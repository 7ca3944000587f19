"""Billing accounts and their immutable ledger (catalog tables billing_accounts, ledger_entries)."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.immutable import AppendOnlyModel

# Bounds that keep every sum far from overflow. One posting moves at most MAX_AMOUNT cents (R$ 1 billion);
# no balance may exceed MAX_BALANCE cents (R$ 10 trillion), which is below 2**53, so balances stay exact in
# JSON numbers read by JavaScript clients and 9,000 times below the bigint columns' limit.
MAX_AMOUNT = 100_000_000_000
MAX_BALANCE = 1_000_000_000_000_000


class BillingAccount(models.Model):
    """One per user. ``balance`` changes only through ``billing.services.ledger``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, db_column="account_id")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="billing_account",
                                db_column="user_id", verbose_name=_("user"))
    stripe_customer_id = models.CharField(_("Stripe customer id"), max_length=255, blank=True, default="")
    balance = models.BigIntegerField(_("balance (cents)"), default=0, editable=False)
    currency = models.CharField(_("currency"), max_length=3, default="BRL")
    # The sequence number of the account's last ledger entry: entries are numbered 1, 2, 3… per account.
    last_sequence = models.BigIntegerField(_("last entry sequence"), default=0, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now, editable=False)

    class Meta:
        db_table = "billing_accounts"
        verbose_name = _("billing account")
        verbose_name_plural = _("billing accounts")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(balance__gte=0) & models.Q(balance__lte=MAX_BALANCE),
                                   name="billing_account_balance_in_range"),
            models.CheckConstraint(condition=models.Q(last_sequence__gte=0), name="billing_account_sequence_gte_0"),
        ]
        permissions = [("adjust_balance", _("Can post a manual ledger adjustment"))]

    def __str__(self) -> str:
        return f"{self.user} ({self.currency})"


class LedgerEntry(AppendOnlyModel):
    """One change of one account's balance. Never updated or deleted: corrections are new entries."""

    class Type(models.TextChoices):
        CREDIT = "credit", _("credit")
        DEBIT = "debit", _("debit")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, db_column="entry_id")
    account = models.ForeignKey(BillingAccount, on_delete=models.PROTECT, related_name="entries",
                                db_column="account_id", db_index=False, verbose_name=_("account"))
    type = models.CharField(_("type"), max_length=6, choices=Type.choices)
    amount = models.BigIntegerField(_("amount (cents)"))
    description = models.TextField(_("description"), blank=True, default="")
    reference_id = models.TextField(_("reference"), blank=True, default="",
                                    help_text=_("The payment intent, payout, transfer… that caused the entry."))
    balance_after = models.BigIntegerField(_("balance after (cents)"))
    sequence = models.BigIntegerField(_("sequence"))
    corrects = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="corrections",
                                 db_column="corrects_entry_id", verbose_name=_("corrects"))
    # The tenant whose operation this is (a payment through its app, its payout, its ad spend, its agent's credit):
    # the tenant sees this entry, and it counts toward the tenant's funds in the account (``TenantFunds``). Empty
    # for the operations of staff and of the system, which no tenant sees or moves.
    tenant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                               related_name="+", db_column="tenant_id", db_index=False, verbose_name=_("tenant"))
    tenant_balance_after = models.BigIntegerField(_("tenant's funds after (cents)"), null=True, blank=True,
                                                  help_text=_("The tenant's funds in the account after this entry."))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        db_table = "ledger_entries"
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["account"], name="idx_ledger_account"),
            models.Index(fields=["created_at"], name="idx_ledger_created"),
            models.Index(fields=["reference_id"], name="idx_ledger_reference"),
            models.Index(fields=["account", "tenant", "created_at"], name="idx_ledger_account_tenant"),
        ]
        constraints = [
            # Two postings can never both become entry N of an account, even if a caller skipped the row lock.
            models.UniqueConstraint(fields=["account", "sequence"], name="uniq_ledger_account_sequence"),
            models.CheckConstraint(condition=models.Q(amount__gt=0) & models.Q(amount__lte=MAX_AMOUNT),
                                   name="ledger_amount_in_range"),
            models.CheckConstraint(condition=models.Q(balance_after__gte=0) & models.Q(balance_after__lte=MAX_BALANCE),
                                   name="ledger_balance_after_in_range"),
            models.CheckConstraint(condition=models.Q(type__in=["credit", "debit"]), name="ledger_type_valid"),
            models.CheckConstraint(condition=models.Q(sequence__gte=1), name="ledger_sequence_gte_1"),
            # A tenant's entry carries the tenant's funds after it, and only a tenant's entry does.
            models.CheckConstraint(condition=models.Q(tenant__isnull=True, tenant_balance_after__isnull=True)
                                   | models.Q(tenant__isnull=False, tenant_balance_after__gte=0),
                                   name="ledger_tenant_balance_after_valid"),
        ]
        permissions = [("export_ledger", _("Can export the ledger as CSV"))]

    def __str__(self) -> str:
        return f"{self.type} {self.amount} → {self.balance_after}"

    @property
    def signed_amount(self) -> int:
        return self.amount if self.type == self.Type.CREDIT else -self.amount


class TenantFunds(models.Model):
    """The part of one account's balance that one tenant's operations brought in and may move out.

    A person has one billing account whoever they are a customer of; the money a payment through tenant A's app
    brought in is A's to move (payouts, ad spend, refunds of A's payments), never tenant B's, even when the same
    person proved themselves to B too. Every ledger entry of a tenant's operation changes this row in the same
    statement or under the account's row lock, and ``ledger_verify`` checks it against the tenant's entries.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(BillingAccount, on_delete=models.PROTECT, related_name="tenant_funds",
                                db_column="account_id", db_index=False, verbose_name=_("account"))
    tenant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                               db_column="tenant_id", verbose_name=_("tenant"))
    balance = models.BigIntegerField(_("funds (cents)"), default=0, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now, editable=False)

    class Meta:
        db_table = "billing_tenant_funds"
        verbose_name = _("tenant funds")
        verbose_name_plural = _("tenant funds")
        constraints = [
            models.UniqueConstraint(fields=["account", "tenant"], name="uniq_tenant_funds_account_tenant"),
            models.CheckConstraint(condition=models.Q(balance__gte=0) & models.Q(balance__lte=MAX_BALANCE),
                                   name="tenant_funds_balance_in_range"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} in {self.account_id}: {self.balance}"
