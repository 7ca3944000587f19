"""Refunds as attack stories over HTTP (issue finding 2): only a payment's credit is refundable, by the tenant whose
app took the payment, within what is left of it and the tenant's funds, through one service that agents, the API and
the console share."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from billing.models import BillingAccount, LedgerEntry, Payout
from billing.verification import ledger_check
from tests.billing.helpers import in_threads
from tests.security.conftest import PIX, counts

PAID = 10_000


def _story(make_tenant, prove, confirm_payment, run_jobs):
    """Tenant T's customer P paid 10,000 through T's app; T paid 2,000 out (sent) and spent 500 on ads for P."""
    t = make_tenant("t")
    t.link("p", phone="+5511987652222")
    prove(t.client, "p")
    account_id = t.post("billing/accounts", {"external_user_id": "p"}).json()["id"]
    intent = confirm_payment(t.post("billing/payment-intents", {"account_id": account_id, "amount": PAID}
                                    ).json()["id"])
    payout = Payout.objects.get(pk=t.post("billing/payouts", {"account_id": account_id, "amount": 2_000,
                                                              "destination": PIX}).json()["id"])
    ad_account = t.post("ads/accounts", {"name": "P ads", "external_user_id": "p"}).json()
    budget = t.post("ads/budgets", {"ad_account_id": ad_account["id"], "amount_total": 5_000, "name": "b"}).json()
    campaign = t.post("ads/campaigns", {"ad_account_id": ad_account["id"], "budget_id": budget["id"], "name": "c",
                                        "objective": "clicks"}).json()
    t.post(f"ads/campaigns/{campaign['id']}/activate", {})
    spend = t.post(f"ads/campaigns/{campaign['id']}/spend", {"amount": 500, "quantity": 5, "unit": "click"}).json()
    run_jobs()  # the payout is sent
    payout.refresh_from_db()
    assert payout.status == "sent"
    return SimpleNamespace(t=t, account_id=account_id, intent=intent, payout=payout,
                           spend_entry_id=spend["ledger_entry_id"], balance=PAID - 2_000 - 500)


@pytest.fixture
def story(make_tenant, prove, confirm_payment, run_jobs, allow_everything):
    return _story(make_tenant, prove, confirm_payment, run_jobs)


def _balance(account_id) -> int:
    return BillingAccount.objects.get(pk=account_id).balance


@pytest.mark.postgres
@pytest.mark.django_db
def test_an_agent_cannot_refund_a_sent_payouts_hold_or_an_applied_ad_spend(story):
    s = story
    agent = s.t.agent(allowed={"billing": ["refund"]})
    before = counts()
    for entry_id, what in ((s.payout.hold_entry_id, "payout_hold"), (s.spend_entry_id, "ad_spend")):
        response = s.t.propose(agent, "billing", "refund", f"entry:{entry_id}")
        assert response.status_code == 400, (what, response.content)
        assert response.json()["error"]["code"] == "entry_not_refundable"
        assert what in response.json()["error"]["message"]
    assert counts() == before and _balance(s.account_id) == s.balance
    assert ledger_check().ok
    # The payment itself is refundable, once, within what is left of it.
    refunded = s.t.propose(agent, "billing", "refund", f"entry:{s.intent.credit_entry_id}", {"amount": 1_000})
    assert refunded.json()["outcome"] == "executed", refunded.content
    assert _balance(s.account_id) == s.balance - 1_000


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_api_refunds_only_a_payment_of_the_tenants_own(story, make_tenant):
    s = story
    for entry_id in (s.payout.hold_entry_id, s.spend_entry_id):
        refused = s.t.post("billing/refunds", {"entry_id": str(entry_id)})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "entry_not_refundable"
    too_much = s.t.post("billing/refunds", {"payment_intent_id": str(s.intent.pk), "amount": PAID + 1})
    assert too_much.status_code == 400
    part = s.t.post("billing/refunds", {"payment_intent_id": str(s.intent.pk), "amount": 3_000})
    assert part.status_code == 201, part.content
    assert (part.json()["amount"], part.json()["remaining"], part.json()["type"]) == (3_000, 7_000, "debit")
    # The rest of the payment is more than the tenant's funds left after its payout and spend: refused.
    rest = s.t.post("billing/refunds", {"payment_intent_id": str(s.intent.pk)})
    assert rest.status_code == 409 and rest.json()["error"]["code"] == "insufficient_funds"
    # A refund of a refund, or of the payout's reversal, is no refund.
    refund_entry = part.json()["id"]
    assert s.t.post("billing/refunds", {"entry_id": refund_entry}).json()["error"]["code"] == "entry_not_refundable"
    # Another tenant never reaches the payment.
    other = make_tenant("other")
    assert other.post("billing/refunds", {"payment_intent_id": str(s.intent.pk)}).status_code == 404
    assert other.post("billing/refunds", {"entry_id": str(s.intent.credit_entry_id)}).status_code == 404
    assert _balance(s.account_id) == s.balance - 3_000
    assert ledger_check().ok


@pytest.mark.postgres
@pytest.mark.django_db
def test_finance_officers_refund_through_the_same_service_in_the_console(story, client):
    from identity.models import User

    s = story
    from django.contrib.auth.models import Group

    officer = User.objects.create_user(username="refunds-officer", role=User.Role.ADMIN)
    officer.groups.add(Group.objects.get(name="finance_officer"))
    client.force_login(officer)
    url = "/admin/billing/paymentintent/"
    data = {"action": "refund", "_selected_action": [str(s.intent.pk)], "apply": "1",
            "reason": "The customer returned the goods."}
    # All that is left of the payment (10,000) is more than the tenant's funds after its payout and spend: refused.
    whole = client.post(url, data, follow=True)
    assert "lower than the debit" in whole.content.decode()
    assert not LedgerEntry.objects.filter(corrects_id=s.intent.credit_entry_id).exists()
    client.post(url, {**data, "amount": "7000"})
    refund = LedgerEntry.objects.get(corrects_id=s.intent.credit_entry_id)
    assert (refund.amount, refund.type, refund.tenant_id) == (7_000, "debit", s.t.owner.pk)
    assert _balance(s.account_id) == s.balance - 7_000
    # The ledger's own entries are not refundable from the console either: only payments are listed for it.
    hold_refund = client.post(url, {**data, "_selected_action": [str(s.intent.pk)], "amount": "3001"}, follow=True)
    assert "Only 3000 cents of this payment are left to refund." in hold_refund.content.decode()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_refunds_never_exceed_the_payment(make_tenant, prove, confirm_payment, run_jobs,
                                                     allow_everything):
    """Eight apps' servers refund 3,000 each of a 10,000 payment at the same instant, on eight connections."""
    t = make_tenant("t")
    t.link("p", phone="+5511987653333")
    prove(t.client, "p")
    account_id = t.post("billing/accounts", {"external_user_id": "p"}).json()["id"]
    intent = confirm_payment(t.post("billing/payment-intents", {"account_id": account_id, "amount": PAID}
                                    ).json()["id"])

    def refund(i: int) -> int:
        from tests.clients import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=t.header)
        return client.post("/api/v1/billing/refunds", {"payment_intent_id": str(intent.pk), "amount": 3_000},
                           format="json", HTTP_IDEMPOTENCY_KEY=f"refund-{i}").status_code

    statuses = in_threads(8, refund)
    assert sorted(statuses) == [201] * 3 + [400] * 5
    refunds = LedgerEntry.objects.filter(corrects_id=intent.credit_entry_id)
    assert sum(refunds.values_list("amount", flat=True)) == 9_000
    assert _balance(account_id) == 1_000
    assert ledger_check().ok
