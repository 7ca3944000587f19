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
DECISION_LIFECYCLE_OPENED = register("DECISION_LIFECYCLE_OPENED",
                                     "An approved decision or an authority grant entered institutional memory.")
DECISION_LIFECYCLE_TRANSITIONED = register("DECISION_LIFECYCLE_TRANSITIONED",
                                           "A decision's lifecycle changed state (a hashed transition was appended).")
DECISION_CONFLICT_DETECTED = register("DECISION_CONFLICT_DETECTED",
                                      "Two decisions in force pull one target opposite ways or overlap.")
DECISION_CONFLICT_ACKNOWLEDGED = register("DECISION_CONFLICT_ACKNOWLEDGED", "A person acknowledged a conflict.")
DECISION_CONFLICT_RESOLVED = register("DECISION_CONFLICT_RESOLVED",
                                      "A person resolved a conflict, naming the prevailing decision.")
DECISION_CONFLICT_DISSOLVED = register("DECISION_CONFLICT_DISSOLVED",
                                       "A conflict ended without a resolution (a decision stopped standing).")
DECISION_PRECEDENT_RECORDED = register("DECISION_PRECEDENT_RECORDED",
                                       "A reviewed decision and its observed result were recorded as a precedent.")
DECISION_PRECEDENT_STATE_CHANGED = register("DECISION_PRECEDENT_STATE_CHANGED",
                                            "A precedent was deprecated, contested, archived or reinstated.")
DECISION_REVIEW_OPENED = register("DECISION_REVIEW_OPENED",
                                  "A decision was put under review (periodic, context change or policy change).")
DECISION_REVIEW_DECIDED = register("DECISION_REVIEW_DECIDED",
                                   "A review was decided: renewed, revoked, superseded or kept pending.")
