"""Upgrading a ledger written before tenants were recorded: the migration gives every entry the tenant the live code
gives it, and every tenant its funds."""
from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from billing.models import LedgerEntry, TenantFunds
from billing.verification import ledger_check

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PIX = {"type": "pix", "key": "pix-receiver@example.com"}


def _ledger_as_the_live_code_wrote_it():
    """A tenant's customer with every kind of entry: a payment, a refund of it, a payout sent and one failed (its
    reversal), an ad spend of the payment's money, an agent's credit, and staff's adjustment (no tenant)."""
    from ads.services import ad_account_create, budget_create, campaign_activate, campaign_create
    from ads.services.spend import campaign_spend
    from agents.services.agents import agent_create, agent_policy_set
    from agents.services.decisions import decision_propose
    from billing.services.accounts import account_open
    from billing.services.ledger import ledger_adjust
    from billing.services.payouts import payout_fail, payout_request
    from billing.services.refunds import refund_create
    from governance.services.autonomy import autonomy_profile_set
    from governance.services.policies import policy_create
    from identity.models import User
    from identity.services.apps import app_create, app_user_attest, app_user_link
    from tests.billing.helpers import confirmed_payment

    owner = User.objects.create_user(username="migrated-tenant")
    app = app_create(owner=owner, name="Migrated shop")
    app_user, _ = app_user_link(app=app, external_user_id="c", phone="+5511987654400")
    person = app_user_attest(app_user=app_user, actor=None, reason="checked by a test").user
    account, _ = account_open(user=person)
    intent = confirmed_payment(account=account, app=app, amount=20_000)
    refund_create(entry_id=intent.credit_entry_id, amount=1_500, tenant_id=owner.pk)
    payout_request(account_id=account.pk, amount=2_000, destination=PIX, app_id=app.pk)
    failed = payout_request(account_id=account.pk, amount=3_000, destination=PIX, app_id=app.pk)
    payout_fail(failed, reason="the bank refused it")
    ad_account = ad_account_create(tenant_id=owner.pk, user_id=person.pk, name="ads", app=app)
    budget = budget_create(ad_account_id=ad_account.pk, amount_total=5_000, name="b")
    campaign = campaign_create(ad_account_id=ad_account.pk, budget_id=budget.pk, name="c", objective="clicks")
    campaign_activate(campaign_id=campaign.pk)
    campaign_spend(campaign_id=campaign.pk, amount=700, quantity=7, unit="click")
    policy_create(name="migration: allow credits", resource="billing", action="credit", effect="allow",
                  reason="test", conditions=[], priority=0, active=True)
    agent = agent_create(tenant_id=owner.pk, name="migrated bot", type="executor", app_id=app.pk)
    agent_policy_set(agent_id=agent.pk, domain="billing", allowed_actions=["credit"])
    autonomy_profile_set(agent_id=agent.pk, base_level=3)
    credited = decision_propose(agent_id=agent.pk, tenant_id=owner.pk, app_id=app.pk, domain="billing",
                                action="credit", target_entity=f"account:{account.pk}", payload={"amount": 900})
    assert credited.outcome == "executed", credited.reasons
    staff = User.objects.create_user(username="migrating-officer", role=User.Role.ADMIN)
    ledger_adjust(account_id=account.pk, type="credit", amount=123, justification="goodwill for a late delivery",
                  actor=staff)
    return account


def test_the_migration_gives_earlier_entries_the_tenants_the_live_code_gives_them():
    account = _ledger_as_the_live_code_wrote_it()
    live = list(LedgerEntry.objects.filter(account=account).order_by("sequence")
                .values_list("sequence", "tenant_id", "tenant_balance_after"))
    funds = set(TenantFunds.objects.values_list("account_id", "tenant_id", "balance"))
    tenants = {t for _s, t, _b in live}
    assert None in tenants and len(tenants - {None}) == 1 and len(funds) == 1  # staff's entry has no tenant

    executor = MigrationExecutor(connection)
    executor.migrate([("billing", "0001_initial")])  # tenants and funds undone, as before the upgrade
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert list(LedgerEntry.objects.filter(account=account).order_by("sequence")
                .values_list("sequence", "tenant_id", "tenant_balance_after")) == live
    assert set(TenantFunds.objects.values_list("account_id", "tenant_id", "balance")) == funds
    assert ledger_check().ok
    # The triggers are back: the ledger stays append-only after the migration rewrote it.
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_entries SET amount = amount + 1 WHERE account_id = %s", [account.pk])
