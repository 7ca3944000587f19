"""Routes of the governance app, mounted at /api/v1/governance/ by prostqs/urls.py."""
from django.urls import path

from governance import api

urlpatterns = [
    path("approvals", api.ApprovalListView.as_view(), name="governance-approvals"),
    path("approvals/<uuid:request_id>", api.ApprovalDetailView.as_view(), name="governance-approval"),
    path("approvals/<uuid:request_id>/decisions", api.ApprovalDecisionView.as_view(),
         name="governance-approval-decisions"),
]
