"""Audit event types of institutional memory (the ``memory`` app)."""
from audit.events import register

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
