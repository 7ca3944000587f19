"""Catalog domains Policy and Governance (Memory is the ``memory`` app)."""
from governance.models.approvals import ApprovalDecision, ApprovalParty, ApprovalRequest, Impact, PartyRelation
from governance.models.authorities import AuthorityRole, DecisionAuthority
from governance.models.autonomy import AutonomyLevel, AutonomyProfile, ShadowExecution
from governance.models.policies import Policy, PolicyEffect, PolicyEvaluation, PolicyResult

__all__ = [
    "ApprovalDecision",
    "ApprovalParty",
    "ApprovalRequest",
    "AuthorityRole",
    "AutonomyLevel",
    "AutonomyProfile",
    "DecisionAuthority",
    "Impact",
    "PartyRelation",
    "Policy",
    "PolicyEffect",
    "PolicyEvaluation",
    "PolicyResult",
    "ShadowExecution",
]
