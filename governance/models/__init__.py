"""Catalog domains Policy, Governance and Memory."""
from governance.models.approvals import ApprovalDecision, ApprovalParty, ApprovalRequest, Impact, PartyRelation
from governance.models.authorities import AuthorityRole, DecisionAuthority
from governance.models.autonomy import AutonomyLevel, AutonomyProfile, ShadowExecution
from governance.models.memory import (
    ConflictState,
    ConflictType,
    DecisionConflict,
    DecisionLifecycle,
    DecisionPrecedent,
    DecisionReview,
    DecisionType,
    ExpirationType,
    LifecycleState,
    LifecycleTransition,
    PrecedentState,
    ReviewOutcome,
    ReviewType,
    TriggerType,
)
from governance.models.policies import Policy, PolicyEffect, PolicyEvaluation, PolicyResult

__all__ = [
    "ApprovalDecision",
    "ApprovalParty",
    "ApprovalRequest",
    "AuthorityRole",
    "AutonomyLevel",
    "AutonomyProfile",
    "ConflictState",
    "ConflictType",
    "DecisionAuthority",
    "DecisionConflict",
    "DecisionLifecycle",
    "DecisionPrecedent",
    "DecisionReview",
    "DecisionType",
    "ExpirationType",
    "Impact",
    "LifecycleState",
    "LifecycleTransition",
    "PartyRelation",
    "Policy",
    "PolicyEffect",
    "PolicyEvaluation",
    "PolicyResult",
    "PrecedentState",
    "ReviewOutcome",
    "ReviewType",
    "ShadowExecution",
    "TriggerType",
]
