"""Billing reads. Tenant-scoped getters answer 404 for anything outside the caller's tenant (never 403)."""
from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from billing import errors
from billing.models import BillingAccount, LedgerEntry, PaymentIntent, Payout, Subscription
from identity.selectors import user_in_tenant
from prostqs.errors import NotFound


def _in_tenant(obj, *, tenant_id: Any, user_id: Any):
    if obj is None or not user_in_tenant(user_id=user_id, tenant_id=tenant_id):
        return None
    return obj


def account_get_for_tenant(*, tenant_id: Any, account_id: Any) -> BillingAccount:
    account = BillingAccount.objects.filter(pk=account_id).first()
    if _in_tenant(account, tenant_id=tenant_id, user_id=account and account.user_id) is None:
        raise errors.AccountNotFound()
    return account


def ledger_entries_for_account(*, account: BillingAccount) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(account=account).order_by("-sequence")


def payment_intent_get_for_tenant(*, tenant_id: Any, intent_id: Any) -> PaymentIntent:
    intent = PaymentIntent.objects.select_related("account").filter(pk=intent_id).first()
    if _in_tenant(intent, tenant_id=tenant_id, user_id=intent and intent.account.user_id) is None:
        raise NotFound(_("Payment intent not found."), code="payment_intent_not_found")
    return intent


def payout_get_for_tenant(*, tenant_id: Any, payout_id: Any) -> Payout:
    payout = Payout.objects.select_related("account").filter(pk=payout_id).first()
    if _in_tenant(payout, tenant_id=tenant_id, user_id=payout and payout.account.user_id) is None:
        raise NotFound(_("Payout not found."), code="payout_not_found")
    return payout


def subscription_get_for_tenant(*, tenant_id: Any, subscription_id: Any) -> Subscription:
    subscription = Subscription.objects.select_related("account").filter(pk=subscription_id).first()
    if _in_tenant(subscription, tenant_id=tenant_id,
                  user_id=subscription and subscription.account.user_id) is None:
        raise NotFound(_("Subscription not found."), code="subscription_not_found")
    return subscription


def subscriptions_for_account(*, account: BillingAccount) -> QuerySet[Subscription]:
    return Subscription.objects.filter(account=account).order_by("-created_at", "-pk")
