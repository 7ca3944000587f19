"""A tenant's transfers between accounts of its customers (``POST /api/v1/billing/transfers``).

The money a tenant moves is its own funds (``billing.tenancy``): each transfer is the tenant's debit on the source,
within its funds there, and the tenant's credit on the target, so the funds follow the money and no other tenant's
money in either account moves. A batch is applied all or none by ``billing.services.ledger.ledger_transfers``.
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from billing.models import BillingAccount, LedgerEntry
from billing.services.ledger import Transfer, ledger_transfers
from core.errors import Conflict
from identity.models import User

USER_INACTIVE = "user_inactive"


@dataclass(frozen=True)
class AppliedTransfer:
    debit: LedgerEntry
    credit: LedgerEntry


@dataclass(frozen=True)
class TransferBatch:
    """The transfers applied, in the order given, and what the tenant may move out of each account after them."""

    transfers: list[AppliedTransfer]
    balances: list[dict[str, Any]]


def transfers_apply(*, transfers: Sequence[Transfer], tenant_id: Any) -> TransferBatch:
    """Apply the tenant's transfers, all or none (see ``ledger_transfers`` for the refusals).

    A person staff suspended or banned has their money frozen: nothing leaves their account by transfer either
    (409 ``user_inactive``, with the index of the first transfer from such an account).
    """
    sources = [_uuid(t.from_account_id) for t in transfers]
    frozen = set(BillingAccount.objects.filter(pk__in=[s for s in sources if s is not None])
                 .exclude(user__status=User.Status.ACTIVE).values_list("pk", flat=True))
    if frozen:
        index = next(i for i, source in enumerate(sources) if source in frozen)
        raise Conflict(_("The account holder is suspended: no transfer leaves their account."), code=USER_INACTIVE,
                       extra={"transfer": index})
    applied = [AppliedTransfer(debit, credit) for debit, credit in ledger_transfers(transfers, tenant_id=tenant_id)]
    last: dict[uuid.UUID, LedgerEntry] = {}
    for transfer in applied:
        last[transfer.debit.account_id] = transfer.debit
        last[transfer.credit.account_id] = transfer.credit
    # What the tenant may move out now: its funds, never more than the balance (other tenants' money stays unseen).
    balances = [{"account_id": account_id, "balance": min(entry.tenant_balance_after, entry.balance_after)}
                for account_id, entry in last.items()]
    return TransferBatch(transfers=applied, balances=balances)


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None
