"""Ad accounts: an advertiser of a tenant, drawing on one user's billing account."""
from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ads import events
from ads.models import AdAccount
from ads.selectors import ad_account_get
from ads.services.common import actor_kwargs, limits_ensure, save_with_reason
from audit.services import audit_record
from billing.services.accounts import account_open
from billing.tenancy import person_for_app
from core.errors import InvalidInput, NotFound
from identity.models import Application, User

MAX_NAME = 200


def clean_name(name: Any, *, field: str = "name") -> str:
    name = str(name or "").replace("\x00", "").strip()
    if not name:
        raise InvalidInput(fields={field: [_("This field may not be blank.")]})
    if len(name) > MAX_NAME:
        raise InvalidInput(fields={field: [_("At most %(n)d characters.") % {"n": MAX_NAME}]})
    return name


@transaction.atomic
def ad_account_create(*, tenant_id: Any, user_id: Any, name: str, app: Application | None = None) -> AdAccount:
    """Open an ad account of the tenant on a person's billing account.

    Asked by an application (``app``), the person must have proved themselves through it (``billing.tenancy``;
    anyone else answers 404 ``user_not_found``); staff and the demo name any user. The user's billing account is
    opened if needed (one per user); the tenant's limits row is created empty the first time. Spends draw only on the
    tenant's funds in that account.
    """
    name = clean_name(name)
    if app is not None:
        if app.owner_id != tenant_id:
            raise NotFound(_("User not found."), code="user_not_found")
        user = person_for_app(app=app, user_id=user_id)
    else:
        user = User.objects.filter(pk=user_id).first()
        if user is None:
            raise NotFound(_("User not found."), code="user_not_found")
    billing_account, _created = account_open(user=user)
    account = AdAccount.objects.create(tenant_id=tenant_id, user=user, balance_account=billing_account, name=name)
    limits_ensure(account.tenant_id)
    audit_record(events.AD_ACCOUNT_CREATED, action="create", target_type="ad_account", target_id=account.pk,
                 after={"name": name, "tenant_id": account.tenant_id, "user_id": user.pk,
                        "balance_account_id": billing_account.pk})
    return account


@transaction.atomic
def ad_account_set_status(*, account_id: Any, status: str, reason: str, tenant_id: Any = None,
                          actor: Any = None) -> AdAccount:
    """Suspend (every spend and activation of its campaigns is refused) or reactivate an ad account."""
    if status not in AdAccount.Status.values:
        raise InvalidInput(fields={"status": [_("Must be one of: %(v)s.") % {"v": ", ".join(AdAccount.Status.values)}]})
    found = ad_account_get(account_id=account_id, tenant_id=tenant_id)
    account = AdAccount.objects.select_for_update().get(pk=found.pk)
    before = account.status
    if before == status:
        return account
    account.status, account.updated_at = status, timezone.now()
    save_with_reason(account, reason=reason or status, actor=actor, update_fields=["status", "updated_at"])
    audit_record(events.AD_ACCOUNT_STATUS_CHANGED, action=status, target_type="ad_account", target_id=account.pk,
                 before={"status": before}, after={"status": status}, reason=reason, **actor_kwargs(actor))
    return account
