"""Catalog domains Policy and Governance (the Memory domain joins them here)."""
from governance.models.approvals import ApprovalDecision, ApprovalRequest, Impact
from governance.models.authorities import AuthorityRole, DecisionAuthority
from governance.models.autonomy import AutonomyLevel, AutonomyProfile, ShadowExecution
from governance.models.policies import Policy, PolicyEffect, PolicyEvaluation, PolicyResult

__all__ = [
    "ApprovalDecision",
    "ApprovalRequest",
    "AuthorityRole",
    "AutonomyLevel",
    "AutonomyProfile",
    "DecisionAuthority",
    "Impact",
    "Policy",
    "PolicyEffect",
    "PolicyEvaluation",
    "PolicyResult",
    "ShadowExecution",
]
