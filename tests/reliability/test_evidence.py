"""verify_all proves the records against the audit log (``console.evidence``): stories of what an attacker holding
the application's database role, or a superuser stepping around the triggers, writes behind the application's back,
and what verify_all then says."""
from __future__ import annotations

import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit.immutable import append_only_tables
from console import integrity
from core.integrity import registry
from tests.reliability.conftest import logged_in_as

pytestmark = [pytest.mark.postgres]

PIX = {"type": "pix", "key": "alice@example.com"}


def failed(**kwargs) -> dict[str, list[str]]:
    report = integrity.run_all(store=False, **kwargs)
    return {r.name: r.problems for r in report.results if not r.ok}


def as_superuser_around_the_triggers(sql: str, params=None) -> None:
    """What a superuser (or the owner after DISABLE TRIGGER) can do: write with the append-only triggers skipped."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        cursor.execute("SET LOCAL session_replication_role = origin")


def forge_credit(conn, account_id, amount: int) -> uuid.UUID:
    """The issue's forgery: a credit with a consistent balance_after and sequence, and the balance raised with it."""
    entry = uuid.uuid4()
    with conn.transaction():
        balance, last = conn.execute("SELECT balance, last_sequence FROM billing_accounts WHERE account_id = %s "
                                     "FOR UPDATE", [account_id]).fetchone()
        conn.execute("INSERT INTO ledger_entries (entry_id, account_id, type, amount, description, reference_id, "
                     "balance_after, sequence, created_at) VALUES (%s, %s, 'credit', %s, 'bonus', 'manual', %s, %s, "
                     "now())", [entry, account_id, amount, balance + amount, last + 1])
        conn.execute("UPDATE billing_accounts SET balance = %s, last_sequence = %s WHERE account_id = %s",
                     [balance + amount, last + 1, account_id])
    return entry


# ---- the application role writes behind the application's back -------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_credit_forged_by_the_application_role_is_caught(db_roles, billing_app, capsys):
    tenant = billing_app()
    account = tenant.account(balance=10_000)
    assert integrity.run_all(store=False).ok

    with logged_in_as(db_roles.app) as conn:
        forged = forge_credit(conn, account.pk, 50_000)

    # The ledger's own invariant holds (the forgery is consistent); only the evidence finds it.
    account.refresh_from_db()
    assert account.balance == 60_000
    assert integrity.run_all(store=False, only=["ledger"]).ok
    with pytest.raises(CommandError) as raised:
        call_command("verify_all", "--no-store")
    assert raised.value.returncode == 1
    problems = failed()
    assert list(problems) == ["evidence_ledger_entries"]
    assert str(forged) in problems["evidence_ledger_entries"][0]
    assert "no LEDGER_ENTRY_POSTED audit event" in problems["evidence_ledger_entries"][0]
    assert str(forged) in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_an_ad_spend_forged_with_its_debit_and_counters_is_caught(db_roles):
    """The application role writes a whole applied spend: the ledger debit, the spend event and the budget and
    campaign counters, all consistent. Only the absent audit events give it away."""
    from tests.ads.conftest import make_setup_now

    setup = make_setup_now(balance=20_000, amount_total=10_000)
    assert integrity.run_all(store=False).ok
    spend, debit = uuid.uuid4(), uuid.uuid4()
    with logged_in_as(db_roles.app) as conn, conn.transaction():
        balance, last = conn.execute("SELECT balance, last_sequence FROM billing_accounts WHERE account_id = %s "
                                     "FOR UPDATE", [setup.account.balance_account_id]).fetchone()
        conn.execute("INSERT INTO ledger_entries (entry_id, account_id, type, amount, description, reference_id, "
                     "balance_after, sequence, created_at) VALUES (%s, %s, 'debit', 700, 'Ad spend', %s, %s, %s, "
                     "now())", [debit, setup.account.balance_account_id, f"ad_spend:{spend}", balance - 700, last + 1])
        conn.execute("UPDATE billing_accounts SET balance = balance - 700, last_sequence = last_sequence + 1 "
                     "WHERE account_id = %s", [setup.account.balance_account_id])
        conn.execute("INSERT INTO ad_spend_events (id, campaign_id, budget_id, tenant_id, amount, quantity, unit, "
                     "status, ledger_entry_id, failure_reason, failure_message, idempotency_key, created_at) VALUES "
                     "(%s, %s, %s, %s, 700, 7, 'click', 'applied', %s, '', '', '', now())",
                     [spend, setup.campaign.pk, setup.budget.pk, setup.tenant.id, debit])
        conn.execute("UPDATE ad_budgets SET amount_spent = amount_spent + 700 WHERE id = %s", [setup.budget.pk])
        conn.execute("UPDATE ad_campaigns SET total_spent = total_spent + 700 WHERE id = %s", [setup.campaign.pk])

    problems = failed()
    assert set(problems) == {"evidence_ledger_entries", "evidence_ad_spend_events"}
    assert str(spend) in problems["evidence_ad_spend_events"][0]
    assert str(debit) in problems["evidence_ledger_entries"][0]


@pytest.mark.django_db(transaction=True)
def test_a_payout_row_forged_by_the_application_role_is_caught(db_roles, billing_app):
    tenant = billing_app()
    account = tenant.account(balance=10_000)
    payout = uuid.uuid4()
    with logged_in_as(db_roles.app) as conn:
        conn.execute("INSERT INTO payouts (payout_id, account_id, amount, status, destination, destination_type, "
                     "approval, decision_reason, provider_reference, failure_reason, idempotency_key, created_at, "
                     "updated_at) VALUES (%s, %s, 5000, 'sent', 'pix:email:thief@example.com', 'pix', 'not_required', "
                     "'', 'ref', '', '', now(), now())", [payout, account.pk])

    problems = failed()
    assert list(problems) == ["evidence_payouts"]
    assert str(payout) in problems["evidence_payouts"][0]
    assert "no PAYOUT_REQUESTED audit event" in problems["evidence_payouts"][0]


@pytest.mark.django_db(transaction=True)
def test_a_payout_redirected_to_a_lookalike_destination_is_caught(db_roles, billing_app):
    """The payout is requested over the API; the application role then points it at another PIX key with the same
    mask (``a***@example.com``), which is all the request's audit event shows."""
    tenant = billing_app()
    account = tenant.account(balance=10_000)
    response = tenant.client.post("/api/v1/billing/payouts", {"account_id": str(account.pk), "amount": 3_000,
                                                              "destination": PIX},
                                  format="json", HTTP_IDEMPOTENCY_KEY="payout-1")
    assert response.status_code == 201, response.json()
    payout = response.json()["id"]
    assert integrity.run_all(store=False).ok

    with logged_in_as(db_roles.app) as conn:
        conn.execute("UPDATE payouts SET destination = 'pix:email:attacker@example.com' WHERE payout_id = %s",
                     [payout])

    problems = failed()
    assert list(problems) == ["evidence_payouts"]
    assert problems["evidence_payouts"] == [
        f"payout {payout} (account {account.pk}): the destination is not the one its request's audit event recorded"]


@pytest.mark.django_db(transaction=True)
def test_a_payout_status_changed_without_its_event_is_caught(db_roles, billing_app):
    tenant = billing_app()
    account = tenant.account(balance=10_000)
    payout = tenant.client.post("/api/v1/billing/payouts", {"account_id": str(account.pk), "amount": 3_000,
                                                            "destination": PIX},
                                format="json", HTTP_IDEMPOTENCY_KEY="payout-2").json()["id"]
    with logged_in_as(db_roles.app) as conn:
        conn.execute("UPDATE payouts SET status = 'sent', provider_reference = 'fake' WHERE payout_id = %s", [payout])

    problems = failed()["evidence_payouts"]
    assert f"payout {payout} (account {account.pk}): status is 'sent' in the row but 'pending' by its audit events" \
        in problems


@pytest.mark.django_db(transaction=True)
def test_audit_events_whose_payout_was_deleted_are_named(db_roles, billing_app):
    """The application role may delete payouts (the table is not append-only): their audit events remain."""
    tenant = billing_app()
    account = tenant.account(balance=10_000)
    payout = tenant.client.post("/api/v1/billing/payouts", {"account_id": str(account.pk), "amount": 3_000,
                                                            "destination": PIX},
                                format="json", HTTP_IDEMPOTENCY_KEY="payout-3").json()["id"]
    with logged_in_as(db_roles.app) as conn:
        conn.execute("DELETE FROM payouts WHERE payout_id = %s", [payout])

    problems = failed()["evidence_payouts"]
    assert len(problems) == 1
    assert problems[0].endswith(f"(PAYOUT_REQUESTED) records payouts {payout}, which does not exist")


# ---- a superuser steps around the triggers ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_credit_erased_by_a_superuser_leaves_its_event_without_its_row(billing_app):
    """The newest credit deleted and the balance set back: the ledger's invariant holds again, the event remains."""
    from billing.models import LedgerEntry
    from billing.services.ledger import ledger_post

    tenant = billing_app()
    account = tenant.account(balance=10_000)
    credit = ledger_post(account_id=account.pk, type="credit", amount=2_500, description="refund")
    as_superuser_around_the_triggers("DELETE FROM ledger_entries WHERE entry_id = %s", [credit.pk])
    with connection.cursor() as cursor:
        cursor.execute("UPDATE billing_accounts SET balance = 10000, last_sequence = 1 WHERE account_id = %s",
                       [account.pk])
    assert not LedgerEntry.objects.filter(pk=credit.pk).exists()

    problems = failed()
    assert list(problems) == ["evidence_ledger_entries"]
    assert problems["evidence_ledger_entries"][0].endswith(
        f"(LEDGER_ENTRY_POSTED) records ledger_entries {credit.pk}, which does not exist")


@pytest.mark.django_db
def test_an_amount_changed_by_a_superuser_is_named_with_both_values(billing_app):
    from billing.services.ledger import ledger_post

    tenant = billing_app()
    account = tenant.account(balance=10_000)
    debit = ledger_post(account_id=account.pk, type="debit", amount=4_000, description="fee")
    # Amount and balances rewritten together, so that the running sums still hold.
    as_superuser_around_the_triggers("UPDATE ledger_entries SET amount = 400, balance_after = 9600 WHERE entry_id = %s",
                                     [debit.pk])
    with connection.cursor() as cursor:
        cursor.execute("UPDATE billing_accounts SET balance = 9600 WHERE account_id = %s", [account.pk])

    problems = failed()
    assert list(problems) == ["evidence_ledger_entries"]
    where = f"ledger entry {debit.pk} (account {account.pk}, sequence 2)"
    assert f"{where}: metadata.amount is 400 in the row but 4000 in its" in problems["evidence_ledger_entries"][0]
    assert any("after.balance is 9600 in the row but 6000" in p for p in problems["evidence_ledger_entries"])


@pytest.mark.django_db
def test_an_entry_moved_to_another_tenant_is_named(billing_app):
    """A tenant's credit reassigned to another tenant (with that tenant's funds raised to match)."""
    from billing.services.ledger import ledger_post

    tenant, other = billing_app(), billing_app()
    account = tenant.account()
    credit = ledger_post(account_id=account.pk, type="credit", amount=7_000, tenant_id=tenant.owner.pk)
    as_superuser_around_the_triggers("UPDATE ledger_entries SET tenant_id = %s WHERE entry_id = %s",
                                     [other.owner.pk, credit.pk])
    with connection.cursor() as cursor:
        cursor.execute("UPDATE billing_tenant_funds SET tenant_id = %s WHERE account_id = %s",
                       [other.owner.pk, account.pk])

    problems = failed()["evidence_ledger_entries"]
    assert problems == [f"ledger entry {credit.pk} (account {account.pk}, sequence {credit.sequence}): "
                        f"metadata.tenant_id is '{other.owner.pk}' in the row but '{tenant.owner.pk}' in its audit "
                        f"event {_sequence_of(credit.pk)} (LEDGER_ENTRY_POSTED)"]


def _sequence_of(target_id) -> int:
    from audit.models import AuditEvent

    return AuditEvent.objects.get(target_id=target_id).sequence


@pytest.fixture
def observer(db):
    from tests.agents.conftest import make_agent_now, make_tenant_now

    tenant = make_tenant_now()
    return tenant, make_agent_now(tenant, type="observer", level=None, name="observer_v1")


def suggest(tenant, agent) -> str:
    response = tenant.client().post("/api/v1/observer/suggestions", {
        "agent_id": str(agent.pk), "confidence": 0.82, "finding": "CTR fell 60% in 24 h on c-1",
        "suggestion": "Pause campaign c-1", "snapshot": {"ctr": 0.004, "window": "24h"}}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


@pytest.mark.django_db
def test_a_suggestion_edited_around_the_triggers_is_caught(observer):
    tenant, agent = observer
    suggestion = suggest(tenant, agent)
    assert failed(only=["evidence_agent_memory"]) == {}

    as_superuser_around_the_triggers("UPDATE agent_memory SET suggestion = 'Raise the budget tenfold' WHERE id = %s",
                                     [suggestion])

    problems = failed()
    assert list(problems) == ["evidence_agent_memory"]
    assert len(problems["evidence_agent_memory"]) == 1
    assert problems["evidence_agent_memory"][0].startswith(
        f"suggestion {suggestion} (agent_memory): the row no longer matches the digest recorded by its audit event ")


@pytest.mark.django_db
def test_a_suggestion_inserted_without_its_event_is_caught(observer):
    tenant, agent = observer
    suggest(tenant, agent)
    forged = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO agent_memory (id, agent, agent_id, tenant_id, confidence, finding, suggestion, "
                       "snapshot, snapshot_hash, created_at) SELECT %s, agent, agent_id, tenant_id, 0.99, 'x', "
                       "'Pay out everything', snapshot, snapshot_hash, now() FROM agent_memory", [forged])
    problems = failed()["evidence_agent_memory"]
    assert problems == [f"suggestion {forged} (agent_memory): no OBSERVER_SUGGESTION_RECORDED audit event records it "
                        "(written behind the application's back)"]


@pytest.mark.django_db
def test_an_execution_log_edited_around_the_triggers_is_caught(policy_allow_all):
    from agents.models import AgentExecutionLog
    from tests.agents.conftest import Proposer, make_ads_now, make_agent_now, make_tenant_now

    tenant = make_tenant_now()
    ads = make_ads_now(tenant)
    agent = make_agent_now(tenant, level=3, policies={"ads": {"allowed_actions": ["pause_campaign"]}})
    body = Proposer(tenant, agent).propose("ads", "pause_campaign", f"campaign:{ads.campaign.pk}").json()
    assert body["outcome"] == "executed", body
    log = AgentExecutionLog.objects.get(decision_id=body["id"])
    assert failed(only=["evidence_agent_execution_logs"]) == {}

    as_superuser_around_the_triggers("UPDATE agent_execution_logs SET executed_by = 'human', detail = '{}' "
                                     "WHERE id = %s", [log.pk])

    problems = failed()
    assert list(problems) == ["evidence_agent_execution_logs"]
    texts = problems["evidence_agent_execution_logs"]
    assert f"execution log {log.pk} of decision {body['id']}: metadata.executed_by is 'human' in the row but " \
           "'agent' in its" in texts[0]
    assert any("no longer matches the digest" in t for t in texts)


@pytest.fixture
def policy_allow_all(db):
    from tests.agents.conftest import allow_policy_now

    return allow_policy_now()


@pytest.mark.django_db
def test_a_risk_score_rewritten_around_the_triggers_is_caught():
    from agents.models import RiskHistory
    from agents.services.risk import risk_scores_recompute
    from tests.agents.conftest import make_agent_now, make_tenant_now

    tenant = make_tenant_now()
    make_agent_now(tenant)
    from agents.models import RiskScore

    RiskScore.objects.create(app_id=tenant.app.pk, agent_id=None, score=0.1, level="low", factors=[])
    risk_scores_recompute()
    row = RiskHistory.objects.first()
    assert failed(only=["evidence_risk_history"]) == {}

    as_superuser_around_the_triggers("UPDATE risk_history SET score = 0.97, level = 'critical' WHERE id = %s", [row.pk])

    problems = failed()["evidence_risk_history"]
    assert len(problems) == 1 and "do not match the 1 recorded by" in problems[0]


# ---- what verification tolerates, and says ------------------------------------------------------------------------


@pytest.mark.django_db
def test_events_staged_but_not_chained_prove_their_rows(billing_app):
    """Inside one transaction nothing has been chained yet: the staged events, committed with their rows, count."""
    from audit.models import AuditEvent, StagedEvent
    from console import evidence

    tenant = billing_app()
    tenant.account(balance=10_000)
    assert StagedEvent.objects.filter(type="LEDGER_ENTRY_POSTED").exists()
    assert not AuditEvent.objects.filter(type="LEDGER_ENTRY_POSTED").exists()
    result = evidence.verify_rows(evidence.specs()["ledger_entries"])
    assert result.ok, result.problems
    assert result.notes[0] == "1 rows, 1 audit events (1 staged, not yet chained)"


@pytest.mark.django_db
def test_rows_whose_event_predates_the_new_records_still_verify_and_say_so(billing_app):
    """A ledger event written before entries recorded their description and time (edited here into that shape)."""
    import json

    from audit.models import StagedEvent
    from console import evidence

    billing_app().account(balance=10_000)
    staged = StagedEvent.objects.get(type="LEDGER_ENTRY_POSTED")
    old = {k: v for k, v in staged.metadata.items() if k not in ("description", "created_at")}
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_staging SET metadata = %s WHERE id = %s",
                       [json.dumps(old, sort_keys=True, separators=(",", ":")), staged.pk])
    result = evidence.verify_rows(evidence.specs()["ledger_entries"])
    assert result.ok, result.problems
    assert "1 rows predate the recording of metadata.created_at in their event: unproven for those rows" \
        in result.notes


@pytest.mark.django_db
def test_every_append_only_table_is_covered():
    from console import evidence

    assert set(append_only_tables()) <= evidence.covered_tables()
    assert set(append_only_tables()) - evidence.PROVEN_BY_THE_CHAIN <= {
        name.removeprefix("evidence_") for name in registry.verifiers()}


@pytest.mark.django_db
def test_the_seeded_demo_and_the_workload_leave_every_row_proven():
    from devtools.workload import run_workload

    call_command("seed_demo")
    result = run_workload(seed=3, steps=60)
    assert result.ok, result.figures()
    report = integrity.run_all(store=False)
    assert report.ok, report.summary()
    checked = {r.name: r.checked for r in report.results}
    assert checked["evidence_ledger_entries"] > 0 and checked["evidence_ad_spend_events"] > 0
    assert checked["evidence_lifecycle_transitions"] > 0 and checked["evidence_agent_memory"] > 0


@pytest.mark.django_db
def test_an_approval_rewritten_with_a_recomputed_hash_is_caught():
    """The decision's own hash is public arithmetic: a superuser who rewrites the justification and recomputes the
    hash keeps the decision chain intact. The hash its audit event recorded at the time does not follow."""
    from governance.approval_hash import decision_hash
    from governance.models import ApprovalDecision
    from governance.services.approvals import approval_decide, approval_request_create
    from governance.services.authorities import authority_grant
    from identity.models import User

    admin = User.objects.create_user("evidence-admin", role=User.Role.SUPER_ADMIN)
    requester, approver = User.objects.create_user("evidence-requester"), User.objects.create_user("evidence-approver")
    authority_grant(user=approver, role="finance_officer", scopes=["test"], max_impact="critical", granted_by=admin)
    request = approval_request_create(domain="test", action="payout", amount=500_000, context={"amount": 500_000},
                                      requested_by=requester.pk, requested_by_type="user")
    approval_decide(request_id=request.pk, user=approver, decision="rejected",
                    justification="The destination is not the customer's own account.")
    row = ApprovalDecision.objects.get(request=request)
    row.justification = "Looks fine to me, approved in spirit."
    as_superuser_around_the_triggers("UPDATE approval_decisions SET justification = %s, hash = %s WHERE id = %s",
                                     [row.justification, decision_hash(row, request), row.pk])

    problems = failed()
    assert list(problems) == ["evidence_approval_decisions"]
    texts = problems["evidence_approval_decisions"]
    where = f"approval decision {row.pk} of request {request.pk}"
    assert any(t.startswith(f"{where}: reason is 'Looks fine") for t in texts)
    assert any("after.hash is" in t for t in texts)


@pytest.mark.django_db
def test_a_party_removed_from_an_approval_request_is_caught():
    """Removing the account holder from a payout's request would let them approve their own payout."""
    from governance.models import ApprovalParty
    from governance.services.approvals import approval_request_create
    from identity.models import User

    requester, holder = User.objects.create_user("parties-requester"), User.objects.create_user("parties-holder")
    request = approval_request_create(domain="test", action="payout", amount=500_000, context={"amount": 500_000},
                                      requested_by=requester.pk, requested_by_type="user",
                                      on_behalf_of=[(holder.pk, "account_holder")])
    assert failed(only=["evidence_approval_request_parties"]) == {}
    party = ApprovalParty.objects.get(request=request, user=holder)
    as_superuser_around_the_triggers("DELETE FROM approval_request_parties WHERE id = %s", [party.pk])

    problems = failed()
    assert list(problems) == ["evidence_approval_request_parties"]
    assert problems["evidence_approval_request_parties"][0].startswith(
        f"approval request {request.pk}: parties [('{requester.pk}', 'requester')] in the table but ")
    assert "account_holder" in problems["evidence_approval_request_parties"][0]
