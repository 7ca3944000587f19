"""seed_demo's ads part: an account of the demo tenant with budgets, campaigns and spend; twice changes nothing."""
import io

import pytest
from django.core.management import call_command

from ads import demo
from ads.models import AdAccount, AdBudget, AdCampaign, AdSpendEvent
from tests.ads.conftest import diff_counts, snapshot

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def test_the_demo_tenant_gets_an_ad_account_with_spend_and_a_second_run_changes_nothing(tmp_path, monkeypatch):
    from identity import demo as identity_demo

    monkeypatch.setattr(identity_demo, "CREDENTIAL_FILE", tmp_path / "credential.json")
    call_command("seed_demo", stdout=io.StringIO())

    account = AdAccount.objects.get(name=demo.ACCOUNT_NAME)
    assert account.tenant.applications.filter(slug="demo-shop").exists()
    assert AdBudget.objects.filter(ad_account=account).count() == 2
    assert set(AdCampaign.objects.filter(ad_account=account).values_list("status", flat=True)) == {"active", "draft"}
    applied = AdSpendEvent.objects.filter(status="applied")
    assert applied.count() == len(demo.SPENDS)
    assert sum(AdCampaign.objects.values_list("total_spent", flat=True)) == sum(s[1] for s in demo.SPENDS)

    before = snapshot()
    demo.seed(io.StringIO())
    assert diff_counts(before, snapshot()) == {}
