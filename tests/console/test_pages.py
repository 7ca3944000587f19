"""The console's working pages: the approval inbox, the kill switch page, finance (ledger CSV, payouts)."""
from __future__ import annotations

import csv
import io
import tracemalloc
import uuid

import pytest
from django.db import transaction
from django.http import StreamingHttpResponse
from django.urls import reverse

from governance.models import ApprovalRequest, DecisionAuthority
from identity.models import User

pytestmark = pytest.mark.django_db
PIX = {"type": "pix", "key": "529.982.247-25"}


def person(username: str, *, role: str = User.Role.ADMIN, authority: str | None = None, scopes=("*",),
           max_impact: str = "high") -> User:
    user = User.objects.create_user(username, role=role)
    if authority:
        DecisionAuthority.objects.create(user=user, role=authority, scopes=list(scopes), max_impact=max_impact)
    return User.objects.get(pk=user.pk)


def hold(*, domain="billing", action="refund", amount=50_000, risk=None, context=None) -> ApprovalRequest:
    from governance.services.approvals import approval_request_create

    requester = User.objects.create_user(f"requester-{uuid.uuid4().hex[:8]}")
    with transaction.atomic():
        return approval_request_create(domain=domain, action=action, amount=amount, risk=risk,
                                       context=context or {"amount": amount, "currency": "BRL"},
                                       requested_by=requester.pk, requested_by_type="user")


# --- approval inbox -------------------------------------------------------------------------------------------------


def test_the_inbox_lists_the_viewers_decidable_requests_first_with_only_their_buttons(client):
    lead = person("lead", authority="tech_lead", max_impact="medium")
    small = hold(amount=50_000, context={"amount": 50_000, "currency": "BRL",
                                         "risk_factors": [{"name": "new_destination", "contribution": 0.2}]})
    big = hold(amount=5_000_000)  # high impact: above the lead's reach
    client.force_login(lead)
    page = client.get(reverse("admin:inbox")).content.decode()
    mine, others = page.split('id="inbox-mine"')[1].split('id="inbox-others"')
    assert str(small.pk) in mine and str(big.pk) not in mine
    assert str(big.pk) in others
    assert "new_destination" in mine and "500.00 BRL" in mine
    card = mine.split(f'data-request="{small.pk}"')[1].split("</section>")[0]
    assert 'value="approved"' in card and 'value="rejected"' in card and 'value="escalated"' in card
    other_card = others.split(f'data-request="{big.pk}"')[1].split("</section>")[0]
    assert "<form" not in other_card  # seen, not decidable: no buttons


def test_deciding_from_the_inbox_goes_through_the_approval_service(client, audit_log):
    from governance.models import ApprovalDecision

    lead = person("lead", authority="tech_lead")
    request = hold()
    client.force_login(lead)
    url = reverse("admin:governance_approvalrequest_decide", args=[request.pk])
    short = client.post(url, {"decision": "approved", "justification": "ok", "next": reverse("admin:inbox")})
    assert short.status_code == 302 and short["Location"] == reverse("admin:inbox")
    request.refresh_from_db()
    assert request.status == "pending" and not ApprovalDecision.objects.exists()
    done = client.post(url, {"decision": "approved", "justification": "Refund matches the order history.",
                             "next": reverse("admin:inbox")})
    assert done.status_code == 302 and done["Location"] == reverse("admin:inbox")
    request.refresh_from_db()
    assert request.status == "approved"
    decision = ApprovalDecision.objects.get(request=request)
    assert decision.decided_by == lead and decision.justification == "Refund matches the order history."
    assert decision.hash  # the service's hashed decision row
    audit_log.assert_recorded("APPROVAL_DECIDED", target_id=request.pk)
    assert str(request.pk) not in client.get(reverse("admin:inbox")).content.decode().split(
        'id="inbox-others"')[0]


def test_the_inbox_refuses_people_without_the_approval_pages(client):
    staff = person("nobody")
    staff.groups.clear()
    client.force_login(User.objects.get(pk=staff.pk))
    assert client.get(reverse("admin:inbox")).status_code == 403


def test_the_inbox_shows_precedents_and_the_targets_unresolved_conflicts(client):
    from django.core.management import call_command

    from governance.services.approvals import approval_request_create
    from memory.models import DecisionConflict

    call_command("seed_demo", stdout=io.StringIO())
    conflict = DecisionConflict.objects.unresolved().exclude(target_type="").first()
    assert conflict is not None, "the demo data has an unresolved conflict on a target"
    with transaction.atomic():
        disputed = approval_request_create(domain="ads", action="resume_campaign", amount=0, context={},
                                           target_type=conflict.target_type, target_id=conflict.target_id)
    credit = ApprovalRequest.objects.filter(domain="billing", action="credit", status="pending").first()
    client.force_login(person("lead", authority="tech_lead", max_impact="critical"))
    page = client.get(reverse("admin:inbox")).content.decode()
    card = page.split(f'data-request="{disputed.pk}"')[1].split("</section>")[0]
    assert reverse("admin:memory_decisionconflict_change", args=[conflict.pk]) in card
    credit_card = page.split(f'data-request="{credit.pk}"')[1].split("</section>")[0]
    assert 'class="precedents"' in credit_card and "/admin/memory/decisionprecedent/" in credit_card
    dashboard = client.get(reverse("admin:index")).content.decode()
    count = dashboard.split('id="dash-conflicts">')[1].split("<")[0]
    assert int(count) == DecisionConflict.objects.unresolved().count() >= 1


# --- the project's base page ---------------------------------------------------------------------------------------


def test_console_pages_extend_the_projects_base_page_with_the_shared_stylesheet(client, settings):
    base = str(settings.BASE_DIR / "templates" / "admin" / "base_site.html")
    pages = [client.get(reverse("admin:login"))]
    client.force_login(person("operator"))
    pages += [client.get(reverse("admin:index")), client.get(reverse("admin:killswitches"))]
    for page in pages:
        assert page.status_code == 200
        assert base in [template.origin.name for template in page.templates]
        assert "admin/console/console.css" in page.content.decode()


# --- kill switches --------------------------------------------------------------------------------------------------


def test_the_kill_switch_page_shows_every_scope_and_asks_for_a_reason(client, audit_log):
    from infrastructure.models import KillSwitch

    operator = person("operator")  # the admin group may change kill switches
    client.force_login(operator)
    page = client.get(reverse("admin:killswitches")).content.decode()
    for scope in KillSwitch.Scope.values:
        assert f'id="killswitch-{scope}"' in page
    confirm = reverse("admin:killswitch_confirm", args=["billing", "activate"])
    assert client.get(confirm).status_code == 200
    refused = client.post(confirm, {"reason": ""})
    assert refused.status_code == 200 and "required" in refused.content.decode().lower()
    assert not KillSwitch.objects.get(scope="billing").active
    done = client.post(confirm, {"reason": "Chargeback storm, halting payouts"})
    assert done.status_code == 302
    switch = KillSwitch.objects.get(scope="billing")
    assert switch.active and switch.reason == "Chargeback storm, halting payouts"
    audit_log.assert_recorded("KILL_SWITCH_ACTIVATED", target_id=switch.pk, actor_id=operator.pk)
    page = client.get(reverse("admin:killswitches")).content.decode()
    assert "HALTED" in page.split('id="killswitch-billing"')[1].split("</tr>")[0]
    off = reverse("admin:killswitch_confirm", args=["billing", "deactivate"])
    assert client.post(off, {"reason": ""}).status_code == 200
    assert client.post(off, {"reason": "Storm over, resuming"}).status_code == 302
    assert not KillSwitch.objects.get(scope="billing").active
    audit_log.assert_recorded("KILL_SWITCH_DEACTIVATED", target_id=switch.pk)


def test_only_people_who_may_change_switches_get_the_confirm_step(client):
    finance = person("finance", authority="finance_officer", scopes=("billing",))
    client.force_login(finance)
    assert client.get(reverse("admin:killswitches")).status_code == 403
    assert client.post(reverse("admin:killswitch_confirm", args=["all", "activate"]),
                       {"reason": "not mine to pull"}).status_code == 403
    client.force_login(person("operator"))
    assert client.get(reverse("admin:killswitch_confirm", args=["nowhere", "activate"])).status_code == 404


# --- finance ---------------------------------------------------------------------------------------------------------


def _ledger(entries: int):
    """One account with ``entries`` ledger rows, written in bulk (the rows the posting service would write)."""
    from billing.models import BillingAccount, LedgerEntry

    holder = User.objects.create_user("holder")
    account = BillingAccount.objects.create(user=holder, currency="BRL")
    balance, batch = 0, []
    for sequence in range(1, entries + 1):
        balance += 100
        batch.append(LedgerEntry(account=account, type="credit", amount=100, balance_after=balance,
                                 sequence=sequence, description=f"top-up {sequence}", reference_id=f"ref-{sequence}"))
        if len(batch) == 10_000:
            LedgerEntry.objects.bulk_create(batch)
            batch = []
    LedgerEntry.objects.bulk_create(batch)
    BillingAccount.objects.filter(pk=account.pk).update(balance=balance)
    return account


def test_the_ledger_csv_of_100000_entries_streams_in_bounded_memory(client):
    from billing.models import LedgerEntry

    _ledger(100_000)
    client.force_login(person("finance", authority="finance_officer", scopes=("billing",)))
    response = client.get(reverse("admin:billing_ledgerentry_export"))
    assert response.status_code == 200 and isinstance(response, StreamingHttpResponse)
    tracemalloc.start()
    try:
        lines, size, first = 0, 0, b""
        for chunk in response.streaming_content:
            if not first:
                first = chunk
            lines += chunk.count(b"\n")
            size += len(chunk)
        _, streamed_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        rows = list(LedgerEntry.objects.values_list("id", "account_id", "sequence", "created_at", "type", "amount",
                                                    "balance_after", "reference_id", "corrects_id", "description"))
        _, materialised_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == 100_001 and len(rows) == 100_000
    assert first.startswith(b"entry_id,account_id,sequence")
    print(f"ledger CSV of 100,000 entries: {size / 1e6:.1f} MB streamed with a peak of "
          f"{streamed_peak / 1e6:.2f} MB traced; materialising the rows peaks at {materialised_peak / 1e6:.1f} MB")
    assert streamed_peak < materialised_peak / 10
    assert streamed_peak < 8_000_000


def test_the_csv_export_keeps_the_filters_and_is_refused_without_the_permission(client):
    account = _ledger(30)
    other = _ledger_other()
    finance = person("finance", authority="finance_officer", scopes=("billing",))
    client.force_login(finance)
    response = client.get(reverse("admin:billing_ledgerentry_export") + f"?account={account.pk}")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 31 and {r[1] for r in rows[1:]} == {str(account.pk)}
    assert str(other.pk) not in {r[1] for r in rows[1:]}
    client.force_login(person("lead", authority="tech_lead"))
    assert client.get(reverse("admin:billing_ledgerentry_export")).status_code == 403


def _ledger_other():
    from billing.models import BillingAccount, LedgerEntry

    account = BillingAccount.objects.create(user=User.objects.create_user("other-holder"), currency="BRL")
    LedgerEntry.objects.create(account=account, type="credit", amount=5, balance_after=5, sequence=1)
    BillingAccount.objects.filter(pk=account.pk).update(balance=5)
    return account


def test_payouts_awaiting_approval_are_on_the_finance_dashboard(client):
    from billing.models import BillingAccount, Payout
    from billing.services.ledger import ledger_post
    from billing.services.payouts import payout_request

    holder = User.objects.create_user("payee")
    account = BillingAccount.objects.create(user=holder, currency="BRL")
    ledger_post(account_id=account.pk, type="credit", amount=900_000, description="opening balance")
    payout = payout_request(account_id=account.pk, amount=300_000, destination=PIX)
    assert payout.approval == Payout.Approval.AWAITING
    client.force_login(person("finance", authority="finance_officer", scopes=("billing",)))
    page = client.get(reverse("admin:index")).content.decode()
    block = page.split('id="dash-payouts"')[1].split("</section>")[0]
    assert reverse("admin:billing_payout_change", args=[payout.pk]) in block and "3,000.00 BRL" in block
    listing = client.get(reverse("admin:billing_payout_changelist") + "?approval__exact=awaiting")
    assert listing.status_code == 200 and str(payout.pk) in listing.content.decode()
    client.force_login(person("lead", authority="tech_lead"))
    assert 'id="dash-payouts"' in client.get(reverse("admin:index")).content.decode()  # tech leads may view
