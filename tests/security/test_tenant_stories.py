"""Trust between tenants, as attack stories over HTTP (issue findings 1 and 3).

Tenant A's customer P proved themselves through A's app and paid 50,000 cents through it. Tenant B comes to know P in
every way a tenant can (P's phone number, P's provider id, A's external id for P, and what A's webhooks say about P)
and tries every money and record endpoint with it. Nothing of P's money or A's records is reachable, nothing is
written, and even when P becomes B's customer too, B moves only the money B's own operations brought in.
"""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from billing.models import BillingAccount, LedgerEntry, Subscription
from tests.security.conftest import PIX, counts

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

P_PHONE = "+5511987651234"
PAID = 50_000


@pytest.fixture
def story(make_tenant, prove, confirm_payment, webhook_receiver, run_jobs, allow_everything):
    """Tenant A and its customer P, with A's payment, payout, subscription, ad account and campaign; tenant B with an
    agent of its own. ``story.leaked`` is what A's webhooks said about P."""
    a = make_tenant("a", webhook_url=webhook_receiver.url("/a"))
    assert a.link("p-at-a", phone=P_PHONE).status_code == 201
    user_id = prove(a.client, "p-at-a")["user_id"]
    assert a.post("app/users/p-at-a/links", {"provider": "google", "provider_id": "google-p"}).status_code == 201
    account_id = a.post("billing/accounts", {"external_user_id": "p-at-a"}).json()["id"]
    intent = a.post("billing/payment-intents", {"account_id": account_id, "amount": PAID}).json()
    credit_entry_id = confirm_payment(intent["id"]).credit_entry_id
    payout = a.post("billing/payouts", {"account_id": account_id, "amount": 1_000, "destination": PIX})
    subscription = a.post("billing/subscriptions", {"account_id": account_id, "plan_id": "pro", "amount": 990,
                                                    "interval": "month"})
    ad_account = a.post("ads/accounts", {"name": "P's shop", "external_user_id": "p-at-a"})
    budget = a.post("ads/budgets", {"ad_account_id": ad_account.json()["id"], "amount_total": 10_000,
                                    "name": "launch"})
    campaign = a.post("ads/campaigns", {"ad_account_id": ad_account.json()["id"], "budget_id": budget.json()["id"],
                                        "name": "Launch", "objective": "clicks"})
    assert a.post(f"ads/campaigns/{campaign.json()['id']}/activate", {}).status_code == 200
    assert [r.status_code for r in (payout, subscription, ad_account, budget, campaign)] == [201] * 5
    spent = a.post(f"ads/campaigns/{campaign.json()['id']}/spend", {"amount": 500, "quantity": 10, "unit": "click"})
    assert spent.status_code == 201, spent.content
    run_jobs()  # the payout is sent, A's webhooks delivered
    leaked = [received.event["data"] for received in webhook_receiver.received]
    assert leaked and all(d["user_id"] == user_id for d in leaked)
    b = make_tenant("b")
    return SimpleNamespace(
        a=a, b=b, b_agent=b.agent(allowed={"billing": ["credit", "refund", "payout"], "ads": ["record_spend"]}),
        user_id=user_id, account_id=account_id, intent_id=intent["id"], entry_id=str(credit_entry_id),
        payout_id=payout.json()["id"], subscription_id=subscription.json()["id"],
        ad_account_id=ad_account.json()["id"], campaign_id=campaign.json()["id"], leaked=leaked,
        balance=PAID - 1_000 - 500)


def _attempts(s, ext: str) -> list[tuple[str, str, str, dict | None]]:
    """Every money and record endpoint, with P's and A's ids and B's own external id ``ext`` for P."""
    b = s.b
    return [
        ("link P by id", "post", "app/users", {"external_user_id": "by-id", "user_id": s.user_id}),
        ("P's provider links", "get", f"app/users/{b.ext(ext)}/links", None),
        ("link P's provider id", "post", f"app/users/{b.ext(ext)}/links", {"provider": "google",
                                                                            "provider_id": "google-p"}),
        ("open a session of P", "post", "app/sessions", {"external_user_id": ext}),
        ("open P's account by external id", "post", "billing/accounts", {"external_user_id": ext}),
        ("open P's account by id", "post", "billing/accounts", {"user_id": s.user_id}),
        ("read P's account", "get", f"billing/accounts/{s.account_id}", None),
        ("read P's ledger", "get", f"billing/accounts/{s.account_id}/ledger", None),
        ("charge P", "post", "billing/payment-intents", {"account_id": s.account_id, "amount": 100}),
        ("read A's payment", "get", f"billing/payment-intents/{s.intent_id}", None),
        ("pay P's money out", "post", "billing/payouts", {"account_id": s.account_id, "amount": s.balance,
                                                          "destination": {"type": "pix", "key": "b@example.com"}}),
        ("read A's payout", "get", f"billing/payouts/{s.payout_id}", None),
        ("list P's subscriptions", "get", "billing/subscriptions", {"account_id": s.account_id}),
        ("subscribe P", "post", "billing/subscriptions", {"account_id": s.account_id, "plan_id": "b", "amount": 100,
                                                          "interval": "month"}),
        ("read A's subscription", "get", f"billing/subscriptions/{s.subscription_id}", None),
        ("cancel A's subscription", "post", f"billing/subscriptions/{s.subscription_id}/cancel", {}),
        ("refund A's payment", "post", "billing/refunds", {"payment_intent_id": s.intent_id}),
        ("refund A's payment's entry", "post", "billing/refunds", {"entry_id": s.entry_id}),
        ("open an ad account on P by external id", "post", "ads/accounts", {"name": "b", "external_user_id": ext}),
        ("open an ad account on P by id", "post", "ads/accounts", {"name": "b", "user_id": s.user_id}),
        ("read A's ad account", "get", f"ads/accounts/{s.ad_account_id}", None),
        ("spend on A's campaign", "post", f"ads/campaigns/{s.campaign_id}/spend", {"amount": 100, "quantity": 1,
                                                                                  "unit": "click"}),
        ("B's agent pays P's money out", "post", f"agents/{s.b_agent.pk}/decisions", {
            "domain": "billing", "action": "payout", "target_entity": f"account:{s.account_id}",
            "payload": {"amount": s.balance, "destination": PIX}}),
        ("B's agent credits P", "post", f"agents/{s.b_agent.pk}/decisions", {
            "domain": "billing", "action": "credit", "target_entity": f"account:{s.account_id}",
            "payload": {"amount": 100}}),
        ("B's agent refunds A's payment", "post", f"agents/{s.b_agent.pk}/decisions", {
            "domain": "billing", "action": "refund", "target_entity": f"entry:{s.entry_id}", "payload": {}}),
        ("B's agent spends on A's campaign", "post", f"agents/{s.b_agent.pk}/decisions", {
            "domain": "ads", "action": "record_spend", "target_entity": f"campaign:{s.campaign_id}",
            "payload": {"amount": 100, "quantity": 1, "unit": "click"}}),
    ]


def _b_comes_to_know_p(s, way: str) -> str:
    """B's external id for P after coming to know P ``way``; asserts what B learns on the way is nothing."""
    b = s.b
    if way == "phone":
        claim = b.link("x", phone=P_PHONE)
        assert claim.status_code == 201
        assert (claim.json()["user_id"], claim.json()["user_status"], claim.json()["verified"]) == (None, None, False)
        return "x"
    if way == "provider id":
        assert b.link("y", phone=P_PHONE).status_code == 201
        taken = b.post("app/users/y/links", {"provider": "google", "provider_id": "google-p"})
        assert taken.status_code == 404 and taken.json()["error"]["code"] == "app_user_unproven"
        return "y"
    if way == "external id":
        assert b.get("app/users/p-at-a").status_code == 404  # A's ids for its users mean nothing to B's app
        assert b.link("p-at-a", phone=P_PHONE).status_code == 201  # B's own claim under the same string
        return "p-at-a"
    if way == "webhook":
        leaked = s.leaked[0]
        refused = b.link("leaked", user_id=leaked["user_id"])
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "user_not_found"
        return leaked["external_user_id"]
    raise AssertionError(way)


@pytest.mark.parametrize("way", ["phone", "provider id", "external id", "webhook"])
def test_another_tenant_reaches_nothing_of_a_person_however_it_came_to_know_them(story, way):
    s = story
    ext = _b_comes_to_know_p(s, way)
    before = counts()
    secrets = {s.account_id, s.intent_id, s.payout_id, s.subscription_id, s.entry_id, s.ad_account_id, s.user_id}
    for name, method, path, body in _attempts(s, ext):
        response = s.b.call(method, path, body)
        assert response.status_code == 404, f"{way}: {name} answered {response.status_code} {response.content!r}"
        assert set(response.json()["error"]) == {"code", "message", "fields"}
        assert not any(secret in response.content.decode() for secret in secrets), f"{way}: {name} leaked an id"
    assert counts() == before, f"{way}: a refused call wrote something"
    assert BillingAccount.objects.get(pk=s.account_id).balance == s.balance
    assert Subscription.objects.get(pk=s.subscription_id).status == "active"
    # A still sees and moves its own customer's money.
    assert s.a.get(f"billing/accounts/{s.account_id}").json()["balance"] == s.balance


def test_a_claim_never_becomes_proof_without_the_persons_code(story, prove):
    """B asks P for a code (it reaches P's phone, naming B's app); P never gives it to B: B's guesses burn it."""
    s = story
    assert s.b.link("x", phone=P_PHONE).status_code == 201
    verification_id = prove.start(s.b.client, "x")
    code = prove.code_for(verification_id)
    for attempt in range(5):
        guess = f"{(int(code) + attempt + 1) % 10**6:06d}"
        wrong = s.b.post(f"app/users/x/verifications/{verification_id}/confirm", {"code": guess})
        assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "invalid_code"
    burned = s.b.post(f"app/users/x/verifications/{verification_id}/confirm", {"code": code})
    assert burned.status_code == 410
    assert s.b.get("app/users/x").json()["verified"] is False
    assert s.b.post("billing/accounts", {"external_user_id": "x"}).status_code == 404
    # A's own sign-in code for P cannot prove B's claim either: a sign-in code never proves a link.
    started = s.b.client.post("/api/v1/identity/otp/start", {"phone": P_PHONE, "channel": "sms"}, format="json")
    sign_in_id = started.json()["verification_id"]
    mixed = s.b.post(f"app/users/x/verifications/{sign_in_id}/confirm", {"code": prove.code_for(sign_in_id)})
    assert mixed.status_code == 404 and mixed.json()["error"]["code"] == "verification_not_found"


def test_a_proof_code_never_signs_the_person_in(story, prove):
    """The code an app asked for proves a link only: used as a sign-in code it opens no session of P."""
    s = story
    assert s.b.link("x", phone=P_PHONE).status_code == 201
    verification_id = prove.start(s.b.client, "x")
    code = prove.code_for(verification_id)
    signed_in = s.b.client.post("/api/v1/identity/otp/verify", {"verification_id": verification_id, "code": code},
                                format="json")
    assert signed_in.status_code == 404 and "session_token" not in signed_in.content.decode()


def test_a_person_of_two_tenants_keeps_each_tenants_money_apart(story, prove):
    """P becomes B's customer too and proves it: B then reaches P, but sees and moves only what B's own operations
    brought in, never A's 50,000 or A's records."""
    s = story
    assert s.b.link("x", phone=P_PHONE).status_code == 201
    assert prove(s.b.client, "x")["user_id"] == s.user_id
    opened = s.b.post("billing/accounts", {"external_user_id": "x"})
    assert opened.status_code == 200 and opened.json()["id"] == s.account_id  # one account per person
    assert opened.json()["balance"] == 0  # B's funds in it: none yet
    assert s.b.get(f"billing/accounts/{s.account_id}/ledger").json()["results"] == []
    before = counts()
    drained = s.b.post("billing/payouts", {"account_id": s.account_id, "amount": 40_000,
                                           "destination": {"type": "pix", "key": "b@example.com"}})
    assert drained.status_code == 409 and drained.json()["error"]["code"] == "insufficient_funds"
    assert drained.json()["error"]["available"] == 0
    assert str(s.balance) not in drained.content.decode()  # the refusal names B's funds, not P's whole balance
    by_agent = s.b.propose(s.b_agent, "billing", "payout", f"account:{s.account_id}",
                           {"amount": 1_000, "destination": PIX})
    assert by_agent.json()["outcome"] == "rejected"
    assert by_agent.json()["reasons"][-1]["code"] == "insufficient_funds"
    # B's own ad account on P spends only B's money: none.
    ad_account = s.b.post("ads/accounts", {"name": "B ads", "external_user_id": "x"}).json()
    budget = s.b.post("ads/budgets", {"ad_account_id": ad_account["id"], "amount_total": 5_000, "name": "b"}).json()
    campaign = s.b.post("ads/campaigns", {"ad_account_id": ad_account["id"], "budget_id": budget["id"],
                                          "name": "B", "objective": "clicks"}).json()
    s.b.post(f"ads/campaigns/{campaign['id']}/activate", {})
    spend = s.b.post(f"ads/campaigns/{campaign['id']}/spend", {"amount": 100, "quantity": 1, "unit": "click"})
    assert spend.status_code == 409 and spend.json()["error"]["code"] == "insufficient_funds"
    for path in (f"billing/payment-intents/{s.intent_id}", f"billing/payouts/{s.payout_id}",
                 f"billing/subscriptions/{s.subscription_id}", f"ads/accounts/{s.ad_account_id}"):
        assert s.b.get(path).status_code == 404, path
    assert s.b.post(f"billing/subscriptions/{s.subscription_id}/cancel", {}).status_code == 404
    assert s.b.post("billing/refunds", {"payment_intent_id": s.intent_id}).status_code == 404
    assert BillingAccount.objects.get(pk=s.account_id).balance == s.balance
    after = counts()
    for money in ("billing.LedgerEntry", "billing.Payout", "billing.TenantFunds", "billing.PaymentIntent"):
        assert after[money] == before[money], f"{money} grew"  # B's refusals moved nothing
    # Money B brings in is B's to move.
    intent = s.b.post("billing/payment-intents", {"account_id": s.account_id, "amount": 3_000}).json()
    from billing.models import PaymentIntent
    from billing.services.webhooks import payment_intent_local_succeed

    payment_intent_local_succeed(intent=PaymentIntent.objects.get(pk=intent["id"]))
    assert s.b.get(f"billing/accounts/{s.account_id}").json()["balance"] == 3_000
    assert s.b.post("billing/payouts", {"account_id": s.account_id, "amount": 3_000, "destination": PIX}
                    ).status_code == 201
    assert s.b.post("billing/payouts", {"account_id": s.account_id, "amount": 1, "destination": PIX}
                    ).status_code == 409
    assert s.a.get(f"billing/accounts/{s.account_id}").json()["balance"] == s.balance
    assert [e["amount"] for e in s.b.get(f"billing/accounts/{s.account_id}/ledger").json()["results"]] == [
        3_000, 3_000]


def test_linking_a_tenants_owner_by_phone_tells_nothing_of_the_tenant(story):
    s = story
    owner_phone = s.a.owner.sovereign_identity.primary_phone
    claim = s.b.link("owner", phone=owner_phone)
    assert claim.status_code == 201
    assert str(s.a.owner.pk) not in claim.content.decode()
    assert claim.json()["user_id"] is None
    by_id = s.b.link("owner-by-id", user_id=s.a.owner.pk)
    assert by_id.status_code == 404 and str(s.a.owner.pk) not in by_id.content.decode()


def test_a_suspended_apps_customers_are_out_of_its_siblings_reach_until_they_prove_themselves_anew(
        story, prove, run_jobs):
    """Staff suspend A's app; A's second app links P by the id it knows and reaches nothing of P until P proves
    themselves to that app."""
    from identity.models import Application
    from identity.services.apps import app_set_status

    s = story
    sibling = s.a.sibling("a2")
    app_set_status(app=s.a.app, status=Application.Status.SUSPENDED, reason="staff: under review")
    assert s.a.get(f"billing/accounts/{s.account_id}").status_code == 401  # the suspended app itself is out
    assert sibling.link("p", user_id=s.user_id).status_code == 201  # a claim in the sibling
    before = counts()
    for name, method, path, body in _attempts(SimpleNamespace(**{**vars(s), "b": sibling}), "p"):
        if "agent" in name:
            continue  # B's agent is not the sibling's
        response = sibling.call(method, path, body)
        if name in ("link P by id", "read A's payment", "read A's payout", "read A's subscription",
                    "cancel A's subscription", "refund A's payment", "refund A's payment's entry",
                    "read A's ad account", "spend on A's campaign"):
            continue  # the tenant's own records: reached below once P proves themselves to the sibling
        assert response.status_code == 404, f"{name}: {response.status_code} {response.content!r}"
    assert counts() == before
    prove(sibling.client, "p")
    assert sibling.get(f"billing/accounts/{s.account_id}").status_code == 200
    assert sibling.get(f"billing/payment-intents/{s.intent_id}").status_code == 200  # the tenant's record
    payout = sibling.post("billing/payouts", {"account_id": s.account_id, "amount": 1_000, "destination": PIX})
    assert payout.status_code == 201  # the tenant's funds, now through an app P proved themselves to
    assert LedgerEntry.objects.filter(account_id=s.account_id).count() == 4  # payment, payout, spend, payout


def test_the_leaked_webhook_said_only_what_its_app_may_know(story):
    """What A's webhooks carry is A's own view of its records: no other tenant's ids, no secrets."""
    s = story
    body = json.dumps(s.leaked)
    assert s.account_id in body and s.intent_id in body
    assert "client_secret" not in body and "pix-receiver@example.com" not in body


def test_a_person_staff_banned_has_no_money_paid_out(story):
    """Staff ban P in the console: A, whose customer P is, pays none of P's money out (nor does A's agent)."""
    from identity.models import User
    from identity.services.sessions import user_set_status

    s = story
    user_set_status(user=User.objects.get(pk=s.user_id), status="banned", reason="fraud ring")
    before = counts()
    refused = s.a.post("billing/payouts", {"account_id": s.account_id, "amount": 1_000, "destination": PIX})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "user_inactive"
    agent = s.a.agent(allowed={"billing": ["payout"]})
    by_agent = s.a.propose(agent, "billing", "payout", f"account:{s.account_id}", {"amount": 1_000,
                                                                                  "destination": PIX})
    assert by_agent.json()["outcome"] == "rejected" and by_agent.json()["reasons"][-1]["code"] == "user_inactive"
    after = counts()
    assert all(after[m] == before[m] for m in ("billing.LedgerEntry", "billing.Payout", "billing.TenantFunds"))
    assert BillingAccount.objects.get(pk=s.account_id).balance == s.balance
