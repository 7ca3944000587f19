"""Routes of the billing app, mounted at /api/v1/billing/ by prostqs/urls.py."""
from django.urls import path

from billing import api

urlpatterns = [
    path("accounts", api.AccountsView.as_view(), name="billing-accounts"),
    path("accounts/<uuid:account_id>", api.AccountDetailView.as_view(), name="billing-account"),
    path("accounts/<uuid:account_id>/ledger", api.AccountLedgerView.as_view(), name="billing-account-ledger"),
    path("payment-intents", api.PaymentIntentsView.as_view(), name="billing-payment-intents"),
    path("payment-intents/<uuid:intent_id>", api.PaymentIntentDetailView.as_view(), name="billing-payment-intent"),
    path("payouts", api.PayoutsView.as_view(), name="billing-payouts"),
    path("payouts/<uuid:payout_id>", api.PayoutDetailView.as_view(), name="billing-payout"),
    path("subscriptions", api.SubscriptionsView.as_view(), name="billing-subscriptions"),
    path("subscriptions/<uuid:subscription_id>", api.SubscriptionDetailView.as_view(), name="billing-subscription"),
    path("subscriptions/<uuid:subscription_id>/cancel", api.SubscriptionCancelView.as_view(),
         name="billing-subscription-cancel"),
    path("refunds", api.RefundsView.as_view(), name="billing-refunds"),
    path("transfers", api.TransfersView.as_view(), name="billing-transfers"),
    path("webhooks/stripe", api.StripeWebhookView.as_view(), name="billing-stripe-webhook"),
]
