"""Audit event types of the governance app."""
from audit.events import register

POLICY_CREATED = register("POLICY_CREATED", "A policy was created (as a draft or active).")
POLICY_UPDATED = register("POLICY_UPDATED", "A policy was changed; a new version was recorded.")
AUTONOMY_PROFILE_SET = register("AUTONOMY_PROFILE_SET", "An agent's autonomy profile was created or changed.")
SHADOW_EXECUTION_RECORDED = register("SHADOW_EXECUTION_RECORDED",
                                     "An agent in shadow mode intended an action; it was simulated, not executed.")
AUTHORITY_GRANTED = register("AUTHORITY_GRANTED", "A decision authority was granted to a person.")
AUTHORITY_REVOKED = register("AUTHORITY_REVOKED", "A decision authority was revoked.")
APPROVAL_REQUESTED = register("APPROVAL_REQUESTED", "An action was put on hold for human approval.")
APPROVAL_DECIDED = register("APPROVAL_DECIDED", "A decision authority approved, rejected or escalated a request.")
APPROVAL_APPROVED = register("APPROVAL_APPROVED", "An approval request reached its quorum and was approved.")
APPROVAL_REJECTED = register("APPROVAL_REJECTED", "An approval request was rejected.")
APPROVAL_ESCALATED = register("APPROVAL_ESCALATED", "An approval request was moved to authorities of higher impact.")
APPROVAL_EXPIRED = register("APPROVAL_EXPIRED", "An approval request expired undecided; its work will not run.")
APPROVAL_CALLBACK_DELIVERED = register("APPROVAL_CALLBACK_DELIVERED",
                                       "The waiting work was told of an approval request's outcome.")
