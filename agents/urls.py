"""Routes of the agents app (/api/v1/agents… and /api/v1/observer/…), mounted by prostqs/urls.py."""
from django.urls import path

from agents import api

urlpatterns = [
    path("agents", api.AgentsView.as_view(), name="agents"),
    path("agents/<uuid:agent_id>", api.AgentDetailView.as_view(), name="agents-agent"),
    path("agents/<uuid:agent_id>/policies", api.AgentPoliciesView.as_view(), name="agents-policies"),
    path("agents/<uuid:agent_id>/policies/<text:domain>", api.AgentPolicyView.as_view(), name="agents-policy"),
    path("agents/<uuid:agent_id>/decisions", api.DecisionsView.as_view(), name="agents-decisions"),
    path("agents/<uuid:agent_id>/decisions/<uuid:decision_id>", api.DecisionDetailView.as_view(),
         name="agents-decision"),
    path("observer/suggestions", api.SuggestionsView.as_view(), name="observer-suggestions"),
    path("observer/suggestions/<uuid:suggestion_id>", api.SuggestionDetailView.as_view(),
         name="observer-suggestion"),
    path("observer/suggestions/<uuid:suggestion_id>/decisions", api.SuggestionDecisionView.as_view(),
         name="observer-suggestion-decisions"),
    path("observer/inbox", api.ObserverInboxView.as_view(), name="observer-inbox"),
]
