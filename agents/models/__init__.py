"""Catalog domains Agent, Observer and Risk."""
from agents.models.agents import Agent, AgentPolicy
from agents.models.decisions import AgentDailyStats, AgentDecision, AgentExecutionLog, ShadowDecision
from agents.models.observer import AgentMemory, HumanDecision
from agents.models.risk import RiskConfig, RiskHistory, RiskLevel, RiskScore

__all__ = [
    "Agent",
    "AgentDailyStats",
    "AgentDecision",
    "AgentExecutionLog",
    "AgentMemory",
    "AgentPolicy",
    "HumanDecision",
    "RiskConfig",
    "RiskHistory",
    "RiskLevel",
    "RiskScore",
    "ShadowDecision",
]
