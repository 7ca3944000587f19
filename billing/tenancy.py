"""The tenant model: what an application may see of a person and do with their money.

Every path that reads or moves a person's money for an application asks this module (the billing API, the ads API
and services, the agents' executors, the refund service), so the rules live in one place:

- A **tenant** owns applications (``applications.owner_id``). A **person** (one identity, one billing account) may
  be a customer of several tenants.
- **Proof.** An application acts on a person only after the person proved, through that very application, that they
  hold the identity: the app asked for a code (``POST /api/v1/app/users/{external_user_id}/verifications``), the
  code went to the identity's own phone in a message naming the app, and the person gave it to the app, which
  confirmed it (``app_users.verified_at``). A link made from a phone number, a provider id or a user id is a
  *claim* and grants nothing, not even the person's id. A proof made through a sibling application of the same
  tenant does not count: a suspended application's customers are out of its siblings' reach until they prove
  themselves to those apps anew.
- **Records.** A tenant sees only the records its applications created (payment intents, payouts, subscriptions,
  ad accounts, and the ledger entries of its own operations), and only of persons proven to the calling app.
  Anything else answers 404, never 403.
- **Money out.** A tenant moves money out of a person's account only within its **funds** there
  (``billing_tenant_funds``): what its operations brought in (payments through its apps, its agents' credits,
  reversals of its payouts) less what they took out (payouts, ad spend, refunds, disputes). The person consented to
  that money's use by paying through the tenant's app; no tenant moves money that another tenant's operations, or
  staff, brought in. The ledger enforces it (``ledger_post(tenant_id=…)``) under the account's row lock, and
  ``ledger_verify`` checks every tenant's funds against its entries.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from billing import errors
from billing.models import BillingAccount, LedgerEntry, PaymentIntent, Payout, Subscription, TenantFunds
from core.errors import NotFound
from identity.models import Application, User
from identity.selectors import person_get, person_reachable, persons_proven_to


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def person_for_app(*, app: Application | None, user_id: Any) -> User:
    """The person, if ``app`` may act on them (proven through it); else ``NotFound``."""
    if app is None:
        raise NotFound(_("User not found."), code="user_not_found")
    return person_get(app_id=app.pk, user_id=user_id)


def _holder_reachable(app: Application | None, user_id: Any) -> bool:
    return app is not None and person_reachable(app_id=app.pk, user_id=user_id)


def account_for_app(*, app: Application | None, account_id: Any) -> BillingAccount:
    """The account, if its holder proved themselves through ``app``; else 404 ``account_not_found``."""
    pk = _uuid(account_id)
    account = BillingAccount.objects.filter(pk=pk).first() if pk else None
    if account is None or not _holder_reachable(app, account.user_id):
        raise errors.AccountNotFound()
    return account


def accounts_for_app(*, app: Application | None, account_ids: Iterable[Any]) -> dict[uuid.UUID, BillingAccount]:
    """The accounts by id, if every holder proved themselves through ``app`` (one query); else 404
    ``account_not_found``, whichever of them is not, so that nothing tells a proven account from an unknown one."""
    pks = {_uuid(account_id) for account_id in account_ids}
    if app is None or None in pks:
        raise errors.AccountNotFound()
    found = {account.pk: account for account in
             BillingAccount.objects.filter(pk__in=pks, user_id__in=persons_proven_to(app_id=app.pk))}
    if len(found) != len(pks):
        raise errors.AccountNotFound()
    return found


def _record_for_app(model, *, app: Application | None, pk: Any, not_found: NotFound):
    pk = _uuid(pk)
    record = model.objects.select_related("account", "app").filter(pk=pk).first() if pk and app else None
    if (record is None or record.app is None or record.app.owner_id != app.owner_id
            or not _holder_reachable(app, record.account.user_id)):
        raise not_found
    return record


def payment_intent_for_app(*, app: Application | None, intent_id: Any) -> PaymentIntent:
    """A payment intent one of the tenant's apps created, of a person proven to ``app``; else 404."""
    return _record_for_app(PaymentIntent, app=app, pk=intent_id,
                           not_found=NotFound(_("Payment intent not found."), code="payment_intent_not_found"))


def payout_for_app(*, app: Application | None, payout_id: Any) -> Payout:
    """A payout one of the tenant's apps requested, of a person proven to ``app``; else 404."""
    return _record_for_app(Payout, app=app, pk=payout_id,
                           not_found=NotFound(_("Payout not found."), code="payout_not_found"))


def subscription_for_app(*, app: Application | None, subscription_id: Any) -> Subscription:
    """A subscription one of the tenant's apps created, of a person proven to ``app``; else 404."""
    return _record_for_app(Subscription, app=app, pk=subscription_id,
                           not_found=NotFound(_("Subscription not found."), code="subscription_not_found"))


def subscriptions_for_app(*, app: Application, account: BillingAccount) -> QuerySet[Subscription]:
    """The account's subscriptions that the tenant's apps created (the account already passed ``account_for_app``)."""
    return Subscription.objects.filter(account=account, app__owner_id=app.owner_id).order_by("-created_at", "-pk")


def ledger_for_app(*, app: Application, account: BillingAccount) -> QuerySet[LedgerEntry]:
    """The entries of the tenant's own operations on the account (the account already passed ``account_for_app``)."""
    return LedgerEntry.objects.filter(account=account, tenant_id=app.owner_id)


def ledger_entry_for_app(*, app: Application | None, entry_id: Any) -> LedgerEntry:
    """An entry of the tenant's own operations, on the account of a person proven to ``app``; else 404."""
    pk = _uuid(entry_id)
    entry = LedgerEntry.objects.select_related("account").filter(pk=pk).first() if pk and app else None
    if entry is None or entry.tenant_id != app.owner_id or not _holder_reachable(app, entry.account.user_id):
        raise NotFound(_("Ledger entry not found."), code=errors.LEDGER_ENTRY_NOT_FOUND)
    return entry


def tenant_funds(*, account_id: Any, tenant_id: Any) -> int:
    """What the tenant may move out of the account now (a read without a lock: for display and simulations; the
    ledger checks it again under the account's row lock)."""
    found = (TenantFunds.objects.filter(account_id=_uuid(account_id), tenant_id=_uuid(tenant_id))
             .values_list("balance", flat=True).first())
    return found or 0


def available_to_tenant(*, account: BillingAccount, tenant_id: Any) -> int:
    """What the tenant may debit: its funds, never more than the balance."""
    return min(tenant_funds(account_id=account.pk, tenant_id=tenant_id), account.balance)
