"""Opening billing accounts."""
from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction

from audit.services import audit_record
from billing import events
from billing.models import BillingAccount


def account_open(*, user, currency: str | None = None) -> tuple[BillingAccount, bool]:
    """The user's billing account, opened if it does not exist yet. Returns ``(account, created)``.

    Safe under concurrency: two simultaneous calls for one user open one account (the unique ``user_id``).
    """
    existing = BillingAccount.objects.filter(user=user).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            account = BillingAccount.objects.create(user=user, currency=currency or settings.BILLING_CURRENCY)
            audit_record(events.BILLING_ACCOUNT_OPENED, action="open", target_type="billing_account",
                         target_id=account.pk, after={"user_id": str(user.pk), "currency": account.currency})
    except IntegrityError:
        return BillingAccount.objects.get(user=user), False
    return account, True
