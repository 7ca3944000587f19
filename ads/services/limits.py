"""A tenant's ad governance limits: daily and per-campaign caps, and the tenant's own kill switch."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ads import events
from ads.models import AdGovernanceLimit
from ads.services.common import actor_kwargs, lock_limits, save_with_reason
from audit.services import audit_record
from billing.models import MAX_AMOUNT
from core.errors import Conflict, InvalidInput, NotFound
from core.validation import clean_reason
from identity.models import User

# ``ad_limits_set`` leaves a limit as it is when it is given this value (None means "no limit").
UNCHANGED: Any = object()


def _tenant(tenant_id: Any) -> Any:
    try:
        return User.objects.values_list("pk", flat=True).get(pk=tenant_id)
    except (User.DoesNotExist, ValidationError, ValueError, TypeError):
        raise NotFound(_("Tenant not found."), code="tenant_not_found") from None


def _clean_limit(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > MAX_AMOUNT:
        raise InvalidInput(fields={field: [_("A whole number of cents between 0 and %(max)d, or empty.")
                                           % {"max": MAX_AMOUNT}]})
    return value


def _snapshot(limits: AdGovernanceLimit) -> dict[str, Any]:
    return {"max_spend_per_day": limits.max_spend_per_day, "max_spend_per_campaign": limits.max_spend_per_campaign,
            "kill_switch": limits.kill_switch, "kill_switch_reason": limits.kill_switch_reason}


@transaction.atomic
def ad_limits_set(*, tenant_id: Any, reason: str, max_spend_per_day: Any = UNCHANGED,
                  max_spend_per_campaign: Any = UNCHANGED, actor: Any = None) -> AdGovernanceLimit:
    """Change a tenant's caps (None removes a cap). Spends after the commit are checked against the new values."""
    reason = clean_reason(reason)
    tenant = _tenant(tenant_id)
    limits = lock_limits(tenant)
    before = _snapshot(limits)
    if max_spend_per_day is not UNCHANGED:
        limits.max_spend_per_day = _clean_limit(max_spend_per_day, "max_spend_per_day")
    if max_spend_per_campaign is not UNCHANGED:
        limits.max_spend_per_campaign = _clean_limit(max_spend_per_campaign, "max_spend_per_campaign")
    if _snapshot(limits) == before:
        return limits
    limits.updated_at = timezone.now()
    save_with_reason(limits, reason=reason, actor=actor)
    audit_record(events.AD_LIMITS_CHANGED, action="update", target_type="ad_governance_limits", target_id=limits.pk,
                 before=before, after=_snapshot(limits), reason=reason, metadata={"tenant_id": str(tenant)},
                 **actor_kwargs(actor))
    return limits


@transaction.atomic
def ad_limits_kill_switch_activate(*, tenant_id: Any, reason: str, actor: Any = None) -> AdGovernanceLimit:
    """Stop every spend of one tenant (423 ``kill_switch_active``) until the switch is lifted."""
    reason = clean_reason(reason)
    tenant = _tenant(tenant_id)
    limits = lock_limits(tenant)
    before = _snapshot(limits)
    limits.kill_switch, limits.kill_switch_reason = True, reason
    limits.kill_switch_activated_at = limits.updated_at = timezone.now()
    limits.kill_switch_activated_by = getattr(actor, "pk", None)
    save_with_reason(limits, reason=reason, actor=actor)
    audit_record(events.AD_TENANT_KILL_SWITCH_ACTIVATED, action="activate", target_type="ad_governance_limits",
                 target_id=limits.pk, before=before, after=_snapshot(limits), reason=reason,
                 metadata={"tenant_id": str(tenant)}, **actor_kwargs(actor))
    return limits


@transaction.atomic
def ad_limits_kill_switch_deactivate(*, tenant_id: Any, reason: str, actor: Any = None) -> AdGovernanceLimit:
    """Lift a tenant's ads kill switch."""
    reason = clean_reason(reason)
    tenant = _tenant(tenant_id)
    limits = lock_limits(tenant)
    if not limits.kill_switch:
        raise Conflict(_("The tenant's ads kill switch is not on."), code="kill_switch_inactive")
    before = _snapshot(limits)
    limits.kill_switch, limits.kill_switch_reason = False, reason
    limits.updated_at = timezone.now()
    save_with_reason(limits, reason=reason, actor=actor)
    audit_record(events.AD_TENANT_KILL_SWITCH_DEACTIVATED, action="deactivate", target_type="ad_governance_limits",
                 target_id=limits.pk, before=before, after=_snapshot(limits), reason=reason,
                 metadata={"tenant_id": str(tenant)}, **actor_kwargs(actor))
    return limits
