"""The billing demo data builds on the identity demo and is idempotent."""
import io

import pytest
from django.core.management import call_command

from billing.models import BillingAccount, LedgerEntry, PaymentIntent
from billing.verification import ledger_check

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def test_seed_demo_opens_accounts_with_history_once(tmp_path, monkeypatch):
    from identity import demo as identity_demo

    monkeypatch.setattr(identity_demo, "CREDENTIAL_FILE", tmp_path / "credential.json")
    call_command("seed_demo", stdout=io.StringIO())
    # The billing demo's own accounts: the apps above (ads) add accounts and entries of their own.
    accounts = BillingAccount.objects.filter(user__app_links__external_user_id__in=["demo-customer-1",
                                                                                     "demo-customer-2"])
    entries = LedgerEntry.objects.filter(account__in=accounts)
    counts = (accounts.count(), entries.count(), PaymentIntent.objects.count())
    assert counts == (2, 5, 2)
    assert sorted(accounts.values_list("balance", flat=True)) == [10_760, 38_000]
    call_command("seed_demo", stdout=io.StringIO())
    assert (accounts.count(), entries.count(), PaymentIntent.objects.count()) == counts
    assert ledger_check().ok
