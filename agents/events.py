"""Audit event types of the agents app (loaded from ``AgentsConfig.ready()``)."""
from audit.events import register

AGENT_CREATED = register("AGENT_CREATED", "An agent was created for a tenant.")
AGENT_UPDATED = register("AGENT_UPDATED", "An agent was renamed, suspended, reactivated or moved to another app.")
AGENT_POLICY_SET = register("AGENT_POLICY_SET", "An agent's policy for a domain was created or changed.")
AGENT_POLICY_DELETED = register("AGENT_POLICY_DELETED", "An agent's policy for a domain was removed.")
AGENT_DECISION_PROPOSED = register("AGENT_DECISION_PROPOSED",
                                   "An agent proposed a decision; the pipeline's outcome and reasons are recorded.")
AGENT_DECISION_EXECUTED = register("AGENT_DECISION_EXECUTED", "An agent's decision was executed by its domain.")
AGENT_DECISION_FAILED = register("AGENT_DECISION_FAILED",
                                 "An agent's decision was refused by its domain at execution time.")
AGENT_DECISION_REJECTED = register("AGENT_DECISION_REJECTED",
                                   "An agent's decision waiting for approval was rejected, or its approval expired.")
OBSERVER_SUGGESTION_RECORDED = register("OBSERVER_SUGGESTION_RECORDED", "An observer agent made a suggestion.")
SUGGESTION_DECIDED = register("SUGGESTION_DECIDED", "A person accepted, ignored or deferred a suggestion.")
RISK_CONFIG_SET = register("RISK_CONFIG_SET", "An app's risk weights or thresholds were changed.")
RISK_SCORES_RECOMPUTED = register("RISK_SCORES_RECOMPUTED", "The apps' and agents' risk scores were recomputed.")
