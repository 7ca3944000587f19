"""The governance console: policies with validation, versions and dry run; authorities; the decide form."""
import uuid

import pytest
from django.contrib.auth.models import Permission

from governance.models import ApprovalDecision, ApprovalRequest, DecisionAuthority, Policy, ShadowExecution
from governance.services.autonomy import shadow_record
from governance.services.policies import policy_evaluate
from identity.models import User
from tests.clients import Client

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]
WHY = "Reviewed the evidence in the console."


@pytest.fixture
def console(super_admin) -> Client:
    client = Client()
    client.force_login(super_admin)
    return client


def policy_form(**overrides):
    data = {"name": "console-policy", "resource": "ledger", "action": "debit", "effect": "deny", "priority": "5",
            "conditions": '[{"field": "amount", "op": "gt", "value": 1000}]', "reason": "Large debits wait.",
            "active": "on"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_every_governance_page_renders(console, make_policy, request_factory, grant, make_user):
    policy = make_policy("page-policy", effect="allow")
    evaluation = policy_evaluate(resource="ledger", action="debit", context={"amount": 1})
    shadow = shadow_record(agent_id=uuid.uuid4(), domain="ads", action="pause", intent={}, simulation={},
                           reason="shadow mode")
    authority = grant(make_user())
    request = request_factory()
    for url in ["/admin/governance/", "/admin/governance/policy/", f"/admin/governance/policy/{policy.pk}/change/",
                f"/admin/governance/policy/{policy.pk}/history/", "/admin/governance/policy/add/",
                "/admin/governance/policyevaluation/",
                f"/admin/governance/policyevaluation/{evaluation.evaluation_id}/change/",
                "/admin/governance/autonomyprofile/add/", "/admin/governance/shadowexecution/",
                f"/admin/governance/shadowexecution/{shadow.pk}/change/", "/admin/governance/decisionauthority/",
                "/admin/governance/decisionauthority/add/",
                f"/admin/governance/decisionauthority/{authority.pk}/change/",
                "/admin/governance/approvalrequest/", "/admin/governance/approvalrequest/?inbox=mine",
                f"/admin/governance/approvalrequest/{request.pk}/change/", "/admin/governance/approvaldecision/"]:
        assert console.get(url).status_code == 200, url


def test_read_only_models_cannot_be_added_or_deleted(console, request_factory):
    for url in ["/admin/governance/shadowexecution/add/", "/admin/governance/policyevaluation/add/",
                "/admin/governance/approvalrequest/add/", "/admin/governance/approvaldecision/add/"]:
        assert console.get(url).status_code == 403, url
    request = request_factory()
    assert console.post(f"/admin/governance/approvalrequest/{request.pk}/delete/", {"post": "yes"}).status_code == 403


def test_an_invalid_policy_is_refused_at_save_with_the_error_on_the_field(console):
    response = console.post("/admin/governance/policy/add/",
                            policy_form(conditions='[{"field": "amount", "op": "bigger", "value": 1}]'))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "unknown op 'bigger'" in errors["conditions"][0]
    assert not Policy.objects.exists()


def test_saving_in_the_console_creates_versions(console):
    assert console.post("/admin/governance/policy/add/", policy_form()).status_code == 302
    policy = Policy.objects.get(name="console-policy")
    assert policy.version == 1 and policy.active
    response = console.post(f"/admin/governance/policy/{policy.pk}/change/", policy_form(priority="9"))
    assert response.status_code == 302
    policy.refresh_from_db()
    assert (policy.version, policy.priority) == (2, 9)
    assert list(policy.history.order_by("history_id").values_list("version", flat=True)) == [1, 2]


def test_the_dry_run_button_reports_and_saves_nothing(console, make_policy):
    make_policy("allow-all", effect="allow")
    for amount in (500, 5000, 50_000):
        policy_evaluate(resource="ledger", action="debit", context={"amount": amount})
    response = console.post("/admin/governance/policy/add/", policy_form(_dryrun="1", _dryrun_last_n="10"))
    assert response.status_code == 200
    report = response.context["dry_run"]
    assert report.samples == 3 and len(report.changed) == 2
    assert b"2 outcomes would change" in response.content and b"allowed \xe2\x86\x92 denied" in response.content
    assert not Policy.objects.filter(name="console-policy").exists()


def test_dry_run_of_an_edit_keeps_the_stored_version(console, make_policy):
    policy = make_policy("cap", effect="deny", conditions=[{"field": "amount", "op": "gt", "value": 100}])
    make_policy("allow-rest", effect="allow", priority=-1)
    policy_evaluate(resource="ledger", action="debit", context={"amount": 50})
    response = console.post(f"/admin/governance/policy/{policy.pk}/change/",
                            policy_form(name="cap", conditions='[{"field": "amount", "op": "gt", "value": 10}]',
                                        _dryrun="1"))
    assert response.status_code == 200 and len(response.context["dry_run"].changed) == 1
    policy.refresh_from_db()
    assert policy.version == 1 and policy.conditions == [{"field": "amount", "op": "gt", "value": 100}]


def test_activate_and_deactivate_actions_version_the_policy(console, make_policy):
    policy = make_policy("toggle", active=False)
    console.post("/admin/governance/policy/", {"action": "activate", "_selected_action": [policy.pk]})
    policy.refresh_from_db()
    assert policy.active and policy.version == 2


def test_autonomy_profiles_are_saved_through_the_service(console):
    agent = uuid.uuid4()
    response = console.post("/admin/governance/autonomyprofile/add/", {
        "agent_id": str(agent), "base_level": "2", "action_overrides": '{"payout": 0}',
        "max_daily_actions": "10", "max_amount_per_action": ""})
    assert response.status_code == 302
    bad = console.post("/admin/governance/autonomyprofile/add/", {
        "agent_id": str(uuid.uuid4()), "base_level": "2", "action_overrides": '{"payout": 9}'})
    assert bad.status_code == 200 and "action_overrides" in bad.context["adminform"].form.errors
    from governance.selectors import autonomy_level

    assert autonomy_level(agent_id=agent, action="payout") == 0


def staff_with_authority(make_user, grant, **authority):
    user = make_user(User.Role.ADMIN)
    # The governance console's permissions, institutional memory's pages included.
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=["governance", "memory"]))
    grant(user, **authority)
    return User.objects.get(pk=user.pk)


def test_a_grant_beyond_the_granters_authority_is_refused_in_the_form(make_user, grant):
    officer = staff_with_authority(make_user, grant, scopes=["billing"], max_impact="medium")
    client = Client()
    client.force_login(officer)
    grantee = make_user()
    data = {"user": str(grantee.pk), "role": "finance_officer", "title": "", "scopes": '["billing"]',
            "max_impact": "high", "reason": "more power"}
    response = client.post("/admin/governance/decisionauthority/add/", data)
    assert response.status_code == 200
    assert "cannot grant more than you hold" in str(response.context["adminform"].form.non_field_errors())
    assert not DecisionAuthority.objects.filter(user=grantee).exists()
    assert client.post("/admin/governance/decisionauthority/add/", {**data, "max_impact": "low"}).status_code == 302
    created = DecisionAuthority.objects.get(user=grantee)
    assert created.granted_by == officer and created.max_impact == "low"


def test_revoke_action_asks_for_a_reason(console, grant, make_user):
    authority = grant(make_user())
    url = "/admin/governance/decisionauthority/"
    page = console.post(url, {"action": "revoke", "_selected_action": [authority.pk]})
    assert page.status_code == 200 and b"name=\"reason\"" in page.content
    console.post(url, {"action": "revoke", "_selected_action": [authority.pk], "apply": "1", "reason": "role ended"})
    authority.refresh_from_db()
    assert not authority.active and authority.revoke_reason == "role ended"


def test_the_decide_form_shows_only_usable_buttons_and_decides(request_factory, make_user, grant, test_domain):
    request = request_factory(amount=500_000)
    decider = staff_with_authority(make_user, grant, scopes=["test"], max_impact="high")
    outsider = staff_with_authority(make_user, grant, scopes=["ads"], max_impact="critical")
    client = Client()
    client.force_login(outsider)
    page = client.get(f"/admin/governance/approvalrequest/{request.pk}/change/")
    assert page.context["decide_options"] == [] and b'value="approved"' not in page.content
    denied = client.post(f"/admin/governance/approvalrequest/{request.pk}/decide/",
                         {"decision": "approved", "justification": WHY})
    assert denied.status_code == 302 and ApprovalRequest.objects.get(pk=request.pk).status == "pending"

    client.force_login(decider)
    page = client.get(f"/admin/governance/approvalrequest/{request.pk}/change/")
    assert page.context["decide_options"] == ["approved", "rejected", "escalated"]
    assert b'value="approved"' in page.content and b'value="escalated"' in page.content
    response = client.post(f"/admin/governance/approvalrequest/{request.pk}/decide/",
                           {"decision": "approved", "justification": WHY}, HTTP_USER_AGENT="console-browser")
    assert response.status_code == 302
    row = ApprovalDecision.objects.get(request=request)
    assert (row.decided_by_id, row.user_agent, row.ip) == (decider.pk, "console-browser", "127.0.0.1")
    assert ApprovalRequest.objects.get(pk=request.pk).status == "approved"
    page = client.get(f"/admin/governance/approvalrequest/{request.pk}/change/")
    assert page.context["decide_options"] == [] and b"This request is approved." in page.content


def test_the_decide_form_reports_service_errors(request_factory, make_user, grant):
    request = request_factory()
    decider = staff_with_authority(make_user, grant, scopes=["test"], max_impact="high")
    client = Client()
    client.force_login(decider)
    response = client.post(f"/admin/governance/approvalrequest/{request.pk}/decide/",
                           {"decision": "approved", "justification": "short"}, follow=True)
    assert "at least 10 characters" in " ".join(str(m) for m in response.context["messages"])
    assert not ApprovalDecision.objects.exists()


def test_the_inbox_filter_lists_what_i_can_decide(request_factory, make_user, grant):
    mine, other = request_factory(), request_factory(domain="ads")
    decider = staff_with_authority(make_user, grant, scopes=["test"], max_impact="high")
    client = Client()
    client.force_login(decider)
    listed = client.get("/admin/governance/approvalrequest/?inbox=mine").context["cl"].result_list
    assert [r.pk for r in listed] == [mine.pk]
    assert other.pk not in [r.pk for r in listed]


def test_the_verify_link_checks_the_hashes(console):
    response = console.get("/admin/governance/approvaldecision/verify/", follow=True)
    assert "every hash matches" in " ".join(str(m) for m in response.context["messages"])


def test_shadow_executions_are_evidence_only(console):
    shadow_record(agent_id=uuid.uuid4(), domain="ads", action="pause", intent={"x": 1}, simulation={"y": 2},
                  reason="shadow mode")
    page = console.get("/admin/governance/shadowexecution/")
    assert page.status_code == 200 and ShadowExecution.objects.count() == 1
    assert not ApprovalRequest.objects.exists()


def test_the_history_page_never_reverts(console, make_policy):
    """History is read, never reverted (SIMPLE_HISTORY_REVERT_DISABLED; the console refuses history POSTs)."""
    from governance.services.policies import policy_update

    policy = make_policy("revertible", effect="allow", priority=1)
    policy_update(policy_id=policy.pk, priority=7)
    first = policy.history.get(version=1)
    url = f"/admin/governance/policy/{policy.pk}/history/{first.history_id}/"
    assert console.get(url).status_code == 200
    response = console.post(url, policy_form(name="revertible", effect="allow", priority="1", conditions="[]"))
    assert response.status_code == 403
    policy.refresh_from_db()
    assert (policy.version, policy.priority) == (2, 7)
