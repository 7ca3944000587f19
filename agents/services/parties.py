"""On whose behalf an agent's decision acts: the parties governance keeps from approving it.

**The agent's owner** is
- its tenant (``agents.tenant_id``), who is also the owner of the agent's application: an agent is only ever tied
  to one of its own tenant's apps;
- the person who created it, when one did: the first row of the agent's history names them (an agent created in
  the console); an application's API call names no person, and then the tenant is the creator.

A decision also acts on behalf of the owner of the application it was proposed through, and of **the account
holder** its target reaches: the holder of the billing account it credits or pays out from, of the ledger entry's
account, of the ad account behind a campaign or budget (and of that ad account's billing account).
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from ads.models import AdAccount, AdBudget, AdCampaign
from agents.models import Agent
from billing.models import BillingAccount, LedgerEntry, Payout
from governance.models import PartyRelation
from governance.parties import Party
from identity.models import Application

_AD_HOLDERS = ("ad_account__user_id", "ad_account__balance_account__user_id")

# target_type → the holders of the account(s) the target belongs to.
_HOLDERS: dict[str, Callable[[uuid.UUID], list[Any]]] = {
    "billing_account": lambda pk: list(BillingAccount.objects.filter(pk=pk).values_list("user_id", flat=True)),
    "ledger_entry": lambda pk: list(LedgerEntry.objects.filter(pk=pk).values_list("account__user_id", flat=True)),
    "payout": lambda pk: list(Payout.objects.filter(pk=pk).values_list("account__user_id", flat=True)),
    "ad_account": lambda pk: [u for row in AdAccount.objects.filter(pk=pk).values_list(
        "user_id", "balance_account__user_id") for u in row],
    "ad_campaign": lambda pk: [u for row in AdCampaign.objects.filter(pk=pk).values_list(*_AD_HOLDERS) for u in row],
    "ad_budget": lambda pk: [u for row in AdBudget.objects.filter(pk=pk).values_list(*_AD_HOLDERS) for u in row],
}


def agent_owners(agent: Agent) -> list[Party]:
    """The agent's owner: its tenant, the owner of its application, and the person who created it (if any)."""
    owners: list[Party] = [(agent.tenant_id, PartyRelation.AGENT_OWNER.value)]
    if agent.app_id:
        app_owner = Application.objects.filter(pk=agent.app_id).values_list("owner_id", flat=True).first()
        if app_owner is not None:
            owners.append((app_owner, PartyRelation.AGENT_OWNER.value))
    creator = (Agent.history.filter(id=agent.pk, history_type="+", history_user__isnull=False)
               .order_by("history_date").values_list("history_user_id", flat=True).first())
    if creator is not None:
        owners.append((creator, PartyRelation.AGENT_CREATOR.value))
    return owners


def target_holders(*, target_type: str, target_id: Any) -> list[Party]:
    """The account holders a decision's target reaches (none for a target that holds no one's money)."""
    lookup = _HOLDERS.get(target_type or "")
    if lookup is None:
        return []
    try:
        pk = uuid.UUID(str(target_id))
    except ValueError:
        return []
    return [(holder, PartyRelation.ACCOUNT_HOLDER.value) for holder in lookup(pk) if holder is not None]


def decision_parties(*, agent: Agent, app_id: Any, target_type: str, target_id: Any) -> list[Party]:
    """Everyone on whose behalf the agent's decision acts: the agent's owners, the owner of the application it
    came through, the holders of the accounts its target reaches. Each (person, relation) once."""
    parties = agent_owners(agent)
    if app_id and app_id != agent.app_id:
        app_owner = Application.objects.filter(pk=app_id).values_list("owner_id", flat=True).first()
        if app_owner is not None:
            parties.append((app_owner, PartyRelation.APP_OWNER.value))
    parties += target_holders(target_type=target_type, target_id=target_id)
    return list(dict.fromkeys(parties))
