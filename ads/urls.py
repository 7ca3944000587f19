"""Routes of the ads app, mounted at /api/v1/ads/ by prostqs/urls.py."""
from django.urls import path

from ads import api

urlpatterns = [
    path("accounts", api.AdAccountsView.as_view(), name="ads-accounts"),
    path("accounts/<uuid:account_id>", api.AdAccountDetailView.as_view(), name="ads-account"),
    path("budgets", api.AdBudgetsView.as_view(), name="ads-budgets"),
    path("budgets/<uuid:budget_id>", api.AdBudgetDetailView.as_view(), name="ads-budget"),
    path("campaigns", api.AdCampaignsView.as_view(), name="ads-campaigns"),
    path("campaigns/<uuid:campaign_id>", api.AdCampaignDetailView.as_view(), name="ads-campaign"),
    path("campaigns/<uuid:campaign_id>/activate", api.AdCampaignActivateView.as_view(), name="ads-campaign-activate"),
    path("campaigns/<uuid:campaign_id>/pause", api.AdCampaignPauseView.as_view(), name="ads-campaign-pause"),
    path("campaigns/<uuid:campaign_id>/spend", api.AdCampaignSpendView.as_view(), name="ads-campaign-spend"),
    path("campaigns/<uuid:campaign_id>/spend-events", api.AdCampaignSpendEventsView.as_view(),
         name="ads-campaign-spend-events"),
    path("limits", api.AdLimitsView.as_view(), name="ads-limits"),
]
