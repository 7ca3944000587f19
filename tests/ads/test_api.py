"""The ads API over HTTP: scope, tenant isolation, validation, spends with Idempotency-Key, refusals, periods."""
import uuid

import pytest

from ads.models import AdBudget, AdSpendEvent
from ads.services import ad_limits_kill_switch_activate, ad_limits_set, campaign_pause
from billing.models import LedgerEntry

pytestmark = pytest.mark.django_db

BASE = "/api/v1/ads"


def post_spend(client, campaign_id, body=None, key="key-1", **headers):
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(f"{BASE}/campaigns/{campaign_id}/spend",
                       body if body is not None else {"amount": 250, "quantity": 1000, "unit": "impression"},
                       format="json", **headers)


def error_code(response):
    body = response.json()
    assert set(body) == {"error"} and {"code", "message", "fields"} <= set(body["error"])
    return body["error"]["code"]


@pytest.mark.smoke
def test_an_app_builds_an_account_budget_and_campaign_and_spends(make_tenant, make_customer):
    from billing.services.ledger import ledger_post

    tenant = make_tenant()
    client = tenant.client()
    advertiser = make_customer(tenant)

    account = client.post(f"{BASE}/accounts", {"name": "Shop ads", "user_id": str(advertiser.pk)}, format="json")
    assert account.status_code == 201, account.content
    account = account.json()
    assert account["tenant_id"] == str(tenant.id) and account["status"] == "active"
    ledger_post(account_id=account["balance_account_id"], type="credit", amount=10_000, tenant_id=tenant.id)

    budget = client.post(f"{BASE}/budgets", {"ad_account_id": account["id"], "amount_total": 5_000,
                                             "period": "daily", "name": "Daily"}, format="json")
    assert budget.status_code == 201, budget.content
    budget = budget.json()
    assert (budget["amount_remaining"], budget["period"], budget["current"]) == (5_000, "daily", True)

    campaign = client.post(f"{BASE}/campaigns", {"ad_account_id": account["id"], "budget_id": budget["id"],
                                                 "name": "Launch", "objective": "impressions"}, format="json")
    assert campaign.status_code == 201, campaign.content
    campaign_id = campaign.json()["id"]
    assert campaign.json()["status"] == "draft"

    activated = client.post(f"{BASE}/campaigns/{campaign_id}/activate", {}, format="json")
    assert activated.status_code == 200 and activated.json()["status"] == "active"

    spent = post_spend(client, campaign_id)
    assert spent.status_code == 201, spent.content
    body = spent.json()
    event = AdSpendEvent.objects.get(pk=body["id"])
    assert body["status"] == "applied" and body["budget_remaining"] == 4_750
    assert body["ledger_entry_id"] == str(event.ledger_entry_id)
    assert LedgerEntry.objects.get(pk=event.ledger_entry_id).amount == 250

    paused = client.post(f"{BASE}/campaigns/{campaign_id}/pause", {"reason": "review"}, format="json")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    detail = client.get(f"{BASE}/campaigns/{campaign_id}").json()
    assert (detail["total_spent"], detail["budget_remaining"]) == (250, 4_750)
    events = client.get(f"{BASE}/campaigns/{campaign_id}/spend-events").json()
    assert events["count"] == 1 and events["results"][0]["ledger_entry_id"] == body["ledger_entry_id"]


def test_lists_are_paginated_and_filtered(make_setup):
    setup = make_setup()
    client = setup.tenant.client()
    advertiser = setup.account.user_id
    for _ in range(3):
        client.post(f"{BASE}/accounts", {"name": "more", "user_id": str(advertiser)}, format="json")
    page = client.get(f"{BASE}/accounts", {"page_size": 2}).json()
    assert page["count"] == 4 and len(page["results"]) == 2 and page["next"]
    assert client.get(f"{BASE}/campaigns", {"status": "active"}).json()["count"] == 1
    assert client.get(f"{BASE}/campaigns", {"status": "paused"}).json()["count"] == 0
    assert client.get(f"{BASE}/budgets", {"current": "true"}).json()["count"] == 1
    bad = client.get(f"{BASE}/campaigns", {"status": "running"})
    assert bad.status_code == 400 and "status" in bad.json()["error"]["fields"]
    assert client.get(f"{BASE}/budgets", {"ad_account_id": "nope"}).status_code == 400
    assert client.get(f"{BASE}/budgets", {"current": "maybe"}).status_code == 400


def test_the_ads_scope_is_required(make_tenant, make_setup):
    from tests.clients import APIClient

    setup = make_setup()
    no_scope = make_tenant(scopes=("billing",))
    assert APIClient().get(f"{BASE}/campaigns").status_code == 401
    response = no_scope.client().get(f"{BASE}/campaigns")
    assert response.status_code == 403 and error_code(response) == "scope_required"
    response = post_spend(no_scope.client(), setup.campaign.pk)
    assert response.status_code == 403
    assert not AdSpendEvent.objects.exists()


def test_another_tenants_ids_answer_404_everywhere(make_setup):
    mine, theirs = make_setup(), make_setup()
    client = mine.tenant.client()
    paths = [("get", f"{BASE}/accounts/{theirs.account.pk}"), ("get", f"{BASE}/budgets/{theirs.budget.pk}"),
             ("patch", f"{BASE}/budgets/{theirs.budget.pk}"), ("get", f"{BASE}/campaigns/{theirs.campaign.pk}"),
             ("post", f"{BASE}/campaigns/{theirs.campaign.pk}/activate"),
             ("post", f"{BASE}/campaigns/{theirs.campaign.pk}/pause"),
             ("get", f"{BASE}/campaigns/{theirs.campaign.pk}/spend-events"),
             ("get", f"{BASE}/campaigns/{uuid.uuid4()}")]
    for method, path in paths:
        body = {"amount_total": 99_999} if method == "patch" else {}
        response = getattr(client, method)(path, body, format="json")
        assert response.status_code == 404, (path, response.content)
    response = post_spend(client, theirs.campaign.pk)
    assert response.status_code == 404 and error_code(response) == "campaign_not_found"
    # Creating on another tenant's account or budget is refused the same way.
    response = client.post(f"{BASE}/budgets", {"ad_account_id": str(theirs.account.pk), "amount_total": 10},
                           format="json")
    assert response.status_code == 404
    response = client.post(f"{BASE}/campaigns", {"ad_account_id": str(mine.account.pk),
                                                 "budget_id": str(theirs.budget.pk), "name": "x",
                                                 "objective": "clicks"}, format="json")
    assert response.status_code == 404
    response = client.post(f"{BASE}/accounts", {"name": "x", "user_id": str(theirs.tenant.id)}, format="json")
    assert response.status_code == 404
    # Lists hold only the caller's rows.
    assert [c["id"] for c in client.get(f"{BASE}/campaigns").json()["results"]] == [str(mine.campaign.pk)]
    assert theirs.campaign.status == "active" and not AdSpendEvent.objects.exists()
    assert AdBudget.objects.get(pk=theirs.budget.pk).amount_total == theirs.budget.amount_total


@pytest.mark.parametrize("body,field", [
    ({"amount": "250", "quantity": 1, "unit": "click"}, "amount"),
    ({"amount": 2.5, "quantity": 1, "unit": "click"}, "amount"),
    ({"amount": True, "quantity": 1, "unit": "click"}, "amount"),
    ({"amount": 0, "quantity": 1, "unit": "click"}, "amount"),
    ({"amount": 10**15, "quantity": 1, "unit": "click"}, "amount"),
    ({"amount": 10, "quantity": 0, "unit": "click"}, "quantity"),
    ({"amount": 10, "quantity": 1, "unit": "view"}, "unit"),
    ({"amount": 10, "quantity": 1}, "unit"),
])
def test_bad_spend_bodies_are_400_with_the_field(make_setup, body, field):
    setup = make_setup()
    response = post_spend(setup.tenant.client(), setup.campaign.pk, body)
    assert response.status_code == 400
    assert error_code(response) == "validation_error" and field in response.json()["error"]["fields"]
    assert not AdSpendEvent.objects.exists()


def test_a_spend_needs_a_valid_idempotency_key(make_setup):
    setup = make_setup()
    client = setup.tenant.client()
    response = post_spend(client, setup.campaign.pk, key=None)
    assert response.status_code == 400 and error_code(response) == "idempotency_key_required"
    response = post_spend(client, setup.campaign.pk, key="x" * 256)
    assert response.status_code == 400 and error_code(response) == "idempotency_key_invalid"
    assert not AdSpendEvent.objects.exists()


def test_a_replayed_key_returns_the_first_answer_and_spends_once(make_setup):
    setup = make_setup()
    client = setup.tenant.client()
    first = post_spend(client, setup.campaign.pk, key="order-42")
    again = post_spend(client, setup.campaign.pk, key="order-42")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    other_body = post_spend(client, setup.campaign.pk, {"amount": 999, "quantity": 1, "unit": "click"},
                            key="order-42")
    assert other_body.status_code == 409 and error_code(other_body) == "idempotency_mismatch"
    assert AdSpendEvent.objects.count() == 1
    assert LedgerEntry.objects.filter(type="debit").count() == 1


def test_a_refusal_is_stored_and_replayed_with_one_failed_event(make_setup):
    setup = make_setup(amount_total=100)
    client = setup.tenant.client()
    first = post_spend(client, setup.campaign.pk, key="too-much")
    again = post_spend(client, setup.campaign.pk, key="too-much")
    assert first.status_code == again.status_code == 409
    assert error_code(first) == "budget_exhausted" and first.json() == again.json()
    assert first.json()["error"]["budget_remaining"] == 100
    failed = AdSpendEvent.objects.get()
    assert (failed.status, failed.failure_reason) == ("failed", "budget_exhausted")
    assert failed.idempotency_key.endswith(":too-much")


@pytest.mark.parametrize("refusal,code,status", [
    ("daily", "tenant_daily_limit", 409), ("campaign_cap", "tenant_campaign_limit", 409),
    ("paused", "campaign_not_active", 409), ("poor", "insufficient_funds", 409),
    ("tenant_switch", "kill_switch_active", 423), ("ads_switch", "kill_switch_active", 423),
])
def test_refusals_answer_their_code_and_status(make_setup, halt, refusal, code, status):
    setup = make_setup(balance=200)
    if refusal == "daily":
        ad_limits_set(tenant_id=setup.tenant.id, max_spend_per_day=100, reason="cap")
    elif refusal == "campaign_cap":
        ad_limits_set(tenant_id=setup.tenant.id, max_spend_per_campaign=100, reason="cap")
    elif refusal == "paused":
        campaign_pause(campaign_id=setup.campaign.pk)
    elif refusal == "tenant_switch":
        ad_limits_kill_switch_activate(tenant_id=setup.tenant.id, reason="halt")
    elif refusal == "ads_switch":
        halt("ads")
    amount = 300 if refusal == "poor" else 150
    response = post_spend(setup.tenant.client(), setup.campaign.pk, {"amount": amount, "quantity": 1,
                                                                      "unit": "click"})
    assert response.status_code == status and error_code(response) == code
    assert AdSpendEvent.objects.get().failure_reason == code
    assert not LedgerEntry.objects.filter(type="debit").exists()


def test_after_a_kill_switch_the_same_key_can_be_retried(make_setup, halt, lift):
    setup = make_setup()
    client = setup.tenant.client()
    halt("ads")
    assert post_spend(client, setup.campaign.pk, key="retry-me").status_code == 423
    lift("ads")
    response = post_spend(client, setup.campaign.pk, key="retry-me")
    assert response.status_code == 201
    assert sorted(AdSpendEvent.objects.values_list("status", flat=True)) == ["applied", "failed"]


def test_the_budget_total_is_changed_over_patch(make_setup):
    setup = make_setup(amount_total=1_000)
    client = setup.tenant.client()
    post_spend(client, setup.campaign.pk, {"amount": 600, "quantity": 1, "unit": "click"})
    response = client.patch(f"{BASE}/budgets/{setup.budget.pk}", {"amount_total": 500}, format="json")
    assert response.status_code == 409 and error_code(response) == "amount_below_spent"
    response = client.patch(f"{BASE}/budgets/{setup.budget.pk}", {"amount_total": 600}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "exhausted"
    assert client.get(f"{BASE}/campaigns/{setup.campaign.pk}").json()["status"] == "paused"
    response = client.patch(f"{BASE}/budgets/{setup.budget.pk}", {"amount_total": "700"}, format="json")
    assert response.status_code == 400


def test_the_next_period_appears_in_the_api_after_the_rollover_job(make_setup, run_jobs, clock):
    setup = make_setup(period="daily", amount_total=1_000)
    client = setup.tenant.client()
    post_spend(client, setup.campaign.pk, {"amount": 1_000, "quantity": 1, "unit": "click"}, key="a")
    assert client.get(f"{BASE}/campaigns/{setup.campaign.pk}").json()["status"] == "paused"

    clock.advance(days=1)
    run_jobs("ads_budget_rollover")

    current = client.get(f"{BASE}/budgets", {"current": "true"}).json()["results"]
    assert len(current) == 1 and current[0]["previous_budget_id"] == str(setup.budget.pk)
    assert (current[0]["amount_spent"], current[0]["amount_remaining"]) == (0, 1_000)
    old = client.get(f"{BASE}/budgets/{setup.budget.pk}").json()
    assert (old["current"], old["amount_spent"], old["status"]) == (False, 1_000, "exhausted")
    campaign = client.get(f"{BASE}/campaigns/{setup.campaign.pk}").json()
    assert (campaign["status"], campaign["budget_id"]) == ("active", current[0]["id"])
    response = post_spend(client, setup.campaign.pk, {"amount": 400, "quantity": 1, "unit": "click"}, key="b")
    assert response.status_code == 201 and response.json()["budget_remaining"] == 600


def test_the_tenant_reads_its_limits(make_setup):
    setup = make_setup()
    ad_limits_set(tenant_id=setup.tenant.id, max_spend_per_day=5_000, reason="cap")
    post_spend(setup.tenant.client(), setup.campaign.pk)
    body = setup.tenant.client().get(f"{BASE}/limits").json()
    assert body == {"tenant_id": str(setup.tenant.id), "max_spend_per_day": 5_000, "max_spend_per_campaign": None,
                    "kill_switch": False, "spent_today": 250}


def test_accounts_are_opened_for_the_apps_users_by_their_external_id(make_tenant):
    from identity.services.apps import app_user_attest, app_user_link

    tenant = make_tenant()
    client = tenant.client()
    app_user, _created = app_user_link(app=tenant.app, external_user_id="cust-7", phone="+5511912345678")
    claim = client.post(f"{BASE}/accounts", {"name": "Customer ads", "external_user_id": "cust-7"}, format="json")
    assert claim.status_code == 404 and claim.json()["error"]["code"] == "app_user_unproven"
    app_user_attest(app_user=app_user, actor=None, reason="checked by a test")
    response = client.post(f"{BASE}/accounts", {"name": "Customer ads", "external_user_id": "cust-7"}, format="json")
    assert response.status_code == 201 and response.json()["user_id"] == str(app_user.user_id)
    response = client.post(f"{BASE}/accounts", {"name": "x", "external_user_id": "nobody"}, format="json")
    assert response.status_code == 404
    response = client.post(f"{BASE}/accounts", {"name": "x"}, format="json")
    assert response.status_code == 400


def test_the_schema_documents_the_ads_endpoints(client):
    import yaml

    spec = yaml.safe_load(client.get("/api/schema/").content)
    spend = spec["paths"]["/api/v1/ads/campaigns/{campaign_id}/spend"]["post"]
    assert {"201", "400", "404", "409", "423"} <= set(spend["responses"])
    assert any(p["name"] == "Idempotency-Key" and p["required"] for p in spend["parameters"])
