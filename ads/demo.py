"""Demo data: an ad account of the demo tenant, funded, with two budgets, three campaigns and some spend.

Idempotent: rows are found by name before being created, and the demo spends carry idempotency keys, so a second
run replays them instead of spending again.
"""
from __future__ import annotations

from typing import TextIO

from ads.models import AdAccount, AdBudget, AdCampaign
from ads.selectors import budget_current
from ads.services import ad_account_create, ad_limits_set, budget_create, campaign_activate, campaign_create
from ads.services.spend import campaign_spend
from billing.models import LedgerEntry
from billing.services.ledger import ledger_post
from identity.models import Application, SovereignIdentity, User
from identity.services.apps import app_user_attest, app_user_link

ACCOUNT_NAME = "Demo Shop Ads"
FUNDING_REFERENCE = "ads-demo-funding"
FUNDING = 250_000
BUDGETS = [("Launch budget", AdBudget.Period.LIFETIME, 120_000), ("Retargeting per day", AdBudget.Period.DAILY, 8_000)]
CAMPAIGNS = [
    # name, budget, objective, activate
    ("Launch - impressions", "Launch budget", AdCampaign.Objective.IMPRESSIONS, True),
    ("Retargeting - clicks", "Retargeting per day", AdCampaign.Objective.CLICKS, True),
    ("Holiday teaser", "Launch budget", AdCampaign.Objective.CONVERSIONS, False),
]
SPENDS = [
    ("Launch - impressions", 4_500, 15_000, "impression"),
    ("Launch - impressions", 3_200, 10_000, "impression"),
    ("Retargeting - clicks", 1_250, 50, "click"),
    ("Launch - impressions", 2_800, 9_000, "impression"),
    ("Retargeting - clicks", 900, 36, "click"),
]


def _tenant() -> User:
    app = Application.objects.select_related("owner").filter(slug="demo-shop").first()
    if app is not None:
        return app.owner
    user = User.objects.filter(username="ads-demo-tenant").first()
    return user or User.objects.create_user(username="ads-demo-tenant")


def _prove_to_demo_app(tenant: User) -> None:
    """The demo shop advertises with its owner's own account: the owner is a proven user of the shop's app (a staff
    attestation), so that the app and its agents may spend from it (``billing.tenancy``)."""
    app = Application.objects.filter(slug="demo-shop", owner=tenant).first()
    phone = SovereignIdentity.objects.filter(user=tenant).values_list("primary_phone", flat=True).first()
    if app is None or phone is None:
        return
    app_user, _linked = app_user_link(app=app, external_user_id="demo-shop-owner", phone=phone)
    app_user_attest(app_user=app_user, actor=None, reason="demo data: the shop's owner advertises with the shop")


def seed(stdout: TextIO) -> None:
    tenant = _tenant()
    _prove_to_demo_app(tenant)
    account = AdAccount.objects.filter(tenant=tenant, name=ACCOUNT_NAME).first()
    if account is None:
        account = ad_account_create(tenant_id=tenant.pk, user_id=tenant.pk, name=ACCOUNT_NAME)
        ad_limits_set(tenant_id=tenant.pk, max_spend_per_day=60_000, max_spend_per_campaign=200_000,
                      reason="demo tenant limits")
        stdout.write(f"  Demo ad account: {account.name}\n")
    if not LedgerEntry.objects.filter(account_id=account.balance_account_id, reference_id=FUNDING_REFERENCE).exists():
        # The tenant's own money in the account: ad spend draws only on the tenant's funds.
        ledger_post(account_id=account.balance_account_id, type=LedgerEntry.Type.CREDIT, amount=FUNDING,
                    description="Demo funding for ads", reference_id=FUNDING_REFERENCE, tenant_id=tenant.pk)

    budgets: dict[str, AdBudget] = {}
    for name, period, amount in BUDGETS:
        first = AdBudget.objects.filter(ad_account=account, name=name, previous_budget__isnull=True).first()
        budgets[name] = budget_current(budget=first) if first else budget_create(
            ad_account_id=account.pk, amount_total=amount, period=period, name=name)

    campaigns: dict[str, AdCampaign] = {}
    for name, budget_name, objective, activate in CAMPAIGNS:
        campaign = AdCampaign.objects.filter(ad_account=account, name=name).first()
        if campaign is None:
            campaign = campaign_create(ad_account_id=account.pk, budget_id=budgets[budget_name].pk, name=name,
                                       objective=objective)
            if activate:
                campaign = campaign_activate(campaign_id=campaign.pk, reason="demo")
        campaigns[name] = campaign

    for number, (name, amount, quantity, unit) in enumerate(SPENDS, start=1):
        campaign_spend(campaign_id=campaigns[name].pk, amount=amount, quantity=quantity, unit=unit,
                       idempotency_key=f"demo-spend-{number}")
