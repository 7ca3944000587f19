"""The console's permission matrix, role by role, over every registered admin page.

The expected answers come from the console's documentation (docs/domains/console.md: "Who sees and changes what"
and the pages that offer an add form) and the pages from the admin registry: a page added later is checked without
touching this file.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from audit.immutable import AppendOnlyModel
from console.roles import ROLES
from tests.clients import Client

pytestmark = pytest.mark.django_db

LEVELS = {"all", "change", "view", "—"}


def _roles_page() -> str:
    """The page that documents the console's roles."""
    return (Path(settings.BASE_DIR) / "docs" / "domains" / "console.md").read_text()


def documented_matrix() -> dict[str, dict[str, str]]:
    """``{"identity.user": {"super_admin": "all", ...}, "identity": {...}}`` from the roles page's table."""
    text = _roles_page()
    table = text[text.index("**Who sees and changes what**"):]
    header, matrix = None, {}
    for line in table.splitlines()[1:]:
        if not line.startswith("|"):
            if header:
                break
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells[1:]
            assert set(header) == set(ROLES), header
            continue
        if set(cells[0]) <= {"-"}:
            continue
        levels = dict(zip(header, cells[1:], strict=True))
        assert set(levels.values()) <= LEVELS, line
        for name in re.findall(r"`([a-z_]+(?:\.[a-z_]+)?)`", cells[0]):
            matrix[name] = levels
    assert matrix, "docs/domains/console.md's permission matrix is missing"
    return matrix


def documented_add_pages() -> set[str]:
    text = re.sub(r"\s+", " ", _roles_page())
    start = text.index("Pages that offer an add form:")
    sentence = text[start:text.index(". ", start)]
    return set(re.findall(r"`([a-z_]+\.[a-z_]+)`", sentence))


def expected_level(matrix, role: str, label: str) -> str:
    app = label.split(".")[0]
    row = matrix.get(label) or matrix.get(app)
    assert row is not None, f"{label}: docs/domains/console.md's matrix has no row for this page or its app"
    return row[role]


def pages():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label_lower)


@pytest.fixture
def people(db):
    from governance.models import DecisionAuthority
    from identity.models import User

    super_admin = User.objects.create_user("role-super", role=User.Role.SUPER_ADMIN)
    tech_lead = User.objects.create_user("role-tech", role=User.Role.ADMIN)
    finance = User.objects.create_user("role-finance", role=User.Role.ADMIN)
    plain = User.objects.create_user("role-admin", role=User.Role.ADMIN)
    DecisionAuthority.objects.create(user=tech_lead, role="tech_lead", scopes=["*"], max_impact="high")
    DecisionAuthority.objects.create(user=finance, role="finance_officer", scopes=["billing"], max_impact="high")
    return {"super_admin": super_admin, "tech_lead": tech_lead, "finance_officer": finance, "admin": plain}


def test_people_get_the_group_of_their_role(people):
    for role, user in people.items():
        assert set(user.groups.values_list("name", flat=True)) == {role}


@pytest.mark.parametrize("role", ROLES)
def test_every_page_answers_as_the_documented_matrix_says(role, people):
    matrix, addable = documented_matrix(), documented_add_pages()
    client = Client()
    client.force_login(people[role])
    wrong, checked = [], 0
    for model, _model_admin in pages():
        label = model._meta.label_lower
        level = expected_level(matrix, role, label)
        info = (model._meta.app_label, model._meta.model_name)
        expect_list = 200 if level in ("view", "change", "all") else 403
        expect_add = 200 if level in ("change", "all") and label in addable else 403
        for kind, expected in (("changelist", expect_list), ("add", expect_add)):
            status = client.get(reverse(f"admin:{info[0]}_{info[1]}_{kind}")).status_code
            checked += 1
            if status != expected:
                wrong.append(f"{label} {kind}: {status}, docs/domains/console.md says {expected} ({level})")
    assert checked == 2 * len(admin.site._registry)
    assert not wrong, "\n".join(wrong)


def test_the_documentation_names_only_registered_pages():
    registered = {m._meta.label_lower for m in admin.site._registry}
    apps = {label.split(".")[0] for label in registered}
    for name in documented_matrix():
        assert name in registered or name in apps, name
    assert documented_add_pages() <= registered


def test_finance_officers_see_no_agents_or_policies_and_tech_leads_cannot_adjust(people):
    finance, tech = people["finance_officer"], people["tech_lead"]
    finance = type(finance).objects.get(pk=finance.pk)
    tech = type(tech).objects.get(pk=tech.pk)
    assert not any(p.startswith("agents.") for p in finance.get_all_permissions())
    assert not finance.has_perm("governance.view_policy")
    assert finance.has_perm("billing.adjust_balance") and finance.has_perm("billing.export_ledger")
    assert not tech.has_perm("billing.adjust_balance")
    client = Client()
    client.force_login(tech)
    from billing.models import BillingAccount
    from identity.models import User

    account = BillingAccount.objects.create(user=User.objects.create_user("holder"), currency="BRL")
    response = client.post(reverse("admin:billing_billingaccount_adjust", args=[account.pk]),
                           {"type": "credit", "amount": "100", "justification": "a tech lead trying this"})
    assert response.status_code == 403


def test_append_only_pages_are_read_only_for_every_role_the_super_admin_included(people):
    factory = RequestFactory()
    append_only = [(m, ma) for m, ma in pages() if issubclass(m, AppendOnlyModel)]
    assert {m._meta.db_table for m, _ in append_only} >= {"ledger_entries", "audit_events", "approval_decisions"}
    for role, user in people.items():
        request = factory.get("/admin/")
        request.user = type(user).objects.get(pk=user.pk)
        for model, model_admin in append_only:
            assert not model_admin.has_add_permission(request), (role, model)
            assert not model_admin.has_change_permission(request), (role, model)
            assert not model_admin.has_delete_permission(request), (role, model)
            for perm in ("add", "change", "delete"):
                assert not request.user.groups.filter(
                    permissions__codename=f"{perm}_{model._meta.model_name}",
                    permissions__content_type__app_label=model._meta.app_label).exists(), (role, model, perm)


def test_an_append_only_model_cannot_be_registered_with_a_writable_admin():
    from django.core.exceptions import ImproperlyConfigured

    from billing.models import LedgerEntry
    from console.site import ConsoleAdminSite

    site = ConsoleAdminSite(name="scratch")
    with pytest.raises(ImproperlyConfigured, match="append-only"):
        site.register(LedgerEntry)
    with pytest.raises(ImproperlyConfigured, match="append-only"):
        site.register(LedgerEntry, admin.ModelAdmin)


def test_group_permissions_follow_new_models_after_migrate(people):
    """post_migrate recomputes the groups: a permission removed by hand comes back, one added by hand goes."""
    from django.contrib.auth.models import Group, Permission

    from console.roles import sync_group_permissions

    finance = Group.objects.get(name="finance_officer")
    export = Permission.objects.get(codename="export_ledger")
    agent_view = Permission.objects.get(codename="view_agent")
    finance.permissions.remove(export)
    finance.permissions.add(agent_view)
    sync_group_permissions()
    assert finance.permissions.filter(pk=export.pk).exists()
    assert not finance.permissions.filter(pk=agent_view.pk).exists()


def test_revoking_the_authority_moves_the_person_back_to_admin(people):
    from governance.models import DecisionAuthority
    from governance.services.authorities import authority_revoke

    finance = people["finance_officer"]
    authority = DecisionAuthority.objects.get(user=finance)
    authority_revoke(authority_id=authority.pk, revoked_by=people["super_admin"], reason="moved to another team")
    assert set(finance.groups.values_list("name", flat=True)) == {"admin"}
