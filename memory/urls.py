"""Routes of institutional memory, mounted at /api/v1/governance/ beside governance's own (prostqs/urls.py): the
paths and names are the ones they had inside the governance app."""
from django.urls import path

from memory import api

urlpatterns = [
    path("approvals/<uuid:request_id>/memory", api.ApprovalMemoryView.as_view(), name="governance-approval-memory"),
    path("reviews", api.ReviewListView.as_view(), name="governance-reviews"),
    path("decisions/<uuid:decision_id>/memory", api.DecisionMemoryView.as_view(), name="governance-decision-memory"),
]
