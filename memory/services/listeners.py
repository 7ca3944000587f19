"""What memory does when governance decides, registered with governance's callbacks from ``MemoryConfig.ready()``
(governance never imports memory): every authority grant gets a decision lifecycle, which ends when the grant is
revoked; a policy change that would change the outcome of an approved decision in force opens a review of it."""
from __future__ import annotations

from governance.callbacks import register_authority_listener, register_policy_change_listener
from governance.models import DecisionAuthority, Policy
from memory.models import DecisionType, TriggerType
from memory.services.lifecycles import LifecycleSpec, lifecycle_end_if_in_force, lifecycle_open
from memory.services.reviews import PolicyImpact, policy_change_impacts, policy_change_reviews_open

KEY = "memory"


def grant_remember(*, authority: DecisionAuthority, granted_by, reason: str) -> None:
    """The grant's lifecycle: it expires with the grant, or is reviewed periodically when the grant has no expiry;
    overlapping grants to one person are recorded as scope conflicts."""
    lifecycle_open(
        LifecycleSpec(decision_id=authority.pk, decision_type=DecisionType.AUTHORITY_GRANT, domain="governance",
                      action="authority_grant", expires_at=authority.expires_at, target_type="user",
                      target_id=str(authority.user_id), scopes=list(authority.scopes), subject_id=authority.user_id,
                      context={"role": authority.role, "title": authority.title, "scopes": list(authority.scopes),
                               "max_impact": authority.max_impact}),
        triggered_by=granted_by.pk if granted_by else None,
        triggered_by_type=TriggerType.HUMAN if granted_by else TriggerType.SYSTEM,
        reason=reason or f"{authority.role} authority granted over {', '.join(authority.scopes)}")


def grant_forget(*, authority: DecisionAuthority, revoked_by, reason: str) -> None:
    lifecycle_end_if_in_force(decision_id=authority.pk, to_state="revoked", reason=reason,
                              triggered_by=revoked_by.pk if revoked_by else None,
                              triggered_by_type=TriggerType.HUMAN if revoked_by else TriggerType.SYSTEM)


def policy_changing(*, policy: Policy) -> list[PolicyImpact]:
    return policy_change_impacts(policy=policy)


def policy_changed(*, policy: Policy, prepared: list[PolicyImpact], actor) -> None:
    if prepared:
        policy_change_reviews_open(policy=policy, impacts=prepared, actor=actor)


def register() -> None:
    register_authority_listener(KEY, on_granted=grant_remember, on_revoked=grant_forget)
    register_policy_change_listener(KEY, before_save=policy_changing, after_save=policy_changed)
