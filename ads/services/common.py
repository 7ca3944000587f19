"""Helpers shared by the ads services: row locks in the one fixed order, kill switches, history reasons.

Lock order, everywhere in the ads app (and so never a deadlock between two ads operations):

    1. the tenant's ``ad_governance_limits`` row   (spends, limit changes)
    2. the budget row, then its next period's row   (spends, activations, amount changes, disputes, rollovers)
    3. campaign rows                                (spends, status changes, rollovers, exhaustion)
    4. the billing account, taken by the ledger posting service inside ``ledger_post``

An operation may skip levels but never takes a lower-numbered lock after a higher-numbered one. Every spend of a
tenant therefore queues on level 1: that is what makes ``max_spend_per_day`` exact under concurrency, while
different tenants spend in parallel.
"""
from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from ads import errors, events
from ads.models import AdBudget, AdCampaign, AdGovernanceLimit
from audit.services import audit_record
from infrastructure.errors import KillSwitchActive
from infrastructure.services.killswitches import killswitch_halted_scopes

ADS_SCOPE = "ads"


def halted_by() -> tuple[str | None, str]:
    """The global kill switch (``ads`` or ``all``) in force, with its reason; (None, "") when running."""
    halted = killswitch_halted_scopes(ADS_SCOPE)
    if not halted:
        return None, ""
    switch = sorted(halted, key=lambda s: s.scope != "all")[0]
    return switch.scope, switch.reason


def limits_ensure(tenant_id: Any) -> AdGovernanceLimit:
    """The tenant's limits row (created empty: no limits, switch off). Safe under concurrency."""
    found = AdGovernanceLimit.objects.filter(tenant_id=tenant_id).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return AdGovernanceLimit.objects.create(tenant_id=tenant_id)
    except IntegrityError:
        return AdGovernanceLimit.objects.get(tenant_id=tenant_id)


def lock_limits(tenant_id: Any) -> AdGovernanceLimit:
    """Level 1: the tenant's limits row, locked until the end of the transaction."""
    try:
        return AdGovernanceLimit.objects.select_for_update().get(tenant_id=tenant_id)
    except AdGovernanceLimit.DoesNotExist:
        limits_ensure(tenant_id)
        return AdGovernanceLimit.objects.select_for_update().get(tenant_id=tenant_id)


def lock_budget(budget_id: Any) -> AdBudget:
    """Level 2: one budget row, locked."""
    try:
        return AdBudget.objects.select_for_update().get(pk=budget_id)
    except AdBudget.DoesNotExist:
        raise errors.BudgetNotFound() from None


def lock_campaign(campaign_id: Any, *, with_account: bool = False) -> AdCampaign:
    """Level 3: one campaign row, locked (``with_account``: its ad account read in the same query, not locked)."""
    queryset = AdCampaign.objects.all()
    if with_account:
        queryset = queryset.select_related("ad_account").select_for_update(of=("self",))
    else:
        queryset = queryset.select_for_update()
    try:
        return queryset.get(pk=campaign_id)
    except AdCampaign.DoesNotExist:
        raise errors.CampaignNotFound() from None


def save_with_reason(instance, *, reason: str, actor: Any = None, update_fields: list[str] | None = None) -> None:
    """Save through ``save()`` so that django-simple-history records the change and why."""
    instance._change_reason = (reason or "")[:100]
    if hasattr(actor, "_meta") and getattr(actor, "pk", None) is not None:
        instance._history_user = actor
    instance.save(update_fields=update_fields)


def actor_kwargs(actor: Any) -> dict[str, Any]:
    """Audit actor overrides for an explicit actor (a console user); empty to keep the request's context."""
    if actor is None or getattr(actor, "pk", None) is None:
        return {}
    kwargs: dict[str, Any] = {"actor_id": actor.pk}
    if getattr(actor, "is_staff", False):
        kwargs["actor_type"] = "admin"
    return kwargs


_TRANSITION_EVENTS = {
    AdCampaign.Status.ACTIVE: (events.AD_CAMPAIGN_ACTIVATED, "activate"),
    AdCampaign.Status.PAUSED: (events.AD_CAMPAIGN_PAUSED, "pause"),
    AdCampaign.Status.COMPLETED: (events.AD_CAMPAIGN_COMPLETED, "complete"),
}


def campaign_transition(campaign: AdCampaign, *, status: str, stop_reason: str = "", reason: str = "",
                        actor: Any = None, metadata: dict[str, Any] | None = None) -> AdCampaign:
    """Move a campaign whose row the caller holds locked to ``status``, with history and its audit event."""
    before = {"status": campaign.status, "stop_reason": campaign.stop_reason}
    campaign.status, campaign.stop_reason, campaign.updated_at = status, stop_reason, timezone.now()
    save_with_reason(campaign, reason=reason or status, actor=actor,
                     update_fields=["status", "stop_reason", "updated_at"])
    event, action = _TRANSITION_EVENTS[status]
    audit_record(event, action=action, target_type="ad_campaign", target_id=campaign.pk, before=before,
                 after={"status": status, "stop_reason": stop_reason}, reason=reason,
                 metadata={"budget_id": str(campaign.budget_id), **(metadata or {})}, **actor_kwargs(actor))
    return campaign


def raise_refusal(refusal) -> None:
    """Raise a rule's refusal as the service error the API renders (423 for kill switches, else 409)."""
    if refusal.code == errors.KILL_SWITCH_ACTIVE:
        raise KillSwitchActive(refusal.message, extra=refusal.extra)
    raise errors.Refused(refusal.message, code=refusal.code, extra=refusal.extra)
