"""Granting and revoking decision authorities: audited, and nobody grants more than they hold."""
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_sequence
from core.errors import Conflict, Forbidden, InvalidInput
from governance.models import DecisionAuthority
from governance.services.authorities import authority_grant, authority_revoke
from identity.models import User

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def test_a_super_admin_bootstraps_any_grant_and_it_is_audited(super_admin, make_user):
    lead = make_user()
    authority = authority_grant(user=lead, role="tech_lead", scopes=["*"], max_impact="critical",
                                granted_by=super_admin, title="Head of engineering", reason="bootstrap")
    assert authority.granted_by == super_admin and authority.is_in_force()
    audit_sequence()
    event = AuditEvent.objects.get(type="AUTHORITY_GRANTED")
    assert event.target_id == authority.pk and event.actor_id == super_admin.pk
    assert event.after["scopes"] == ["*"] and event.after["max_impact"] == "critical"


@pytest.fixture
def officer(make_user, grant):
    """A finance officer holding billing and ads up to high impact."""
    user = make_user()
    grant(user, scopes=["billing", "ads"], max_impact="high")
    return user


GRANTS = [
    # (scopes, max_impact, role, allowed)
    (["billing"], "high", "finance_officer", True),
    (["billing", "ads"], "medium", "tech_lead", True),
    (["billing", "config"], "low", "finance_officer", False),
    (["*"], "low", "finance_officer", False),
    (["billing"], "critical", "finance_officer", False),
    (["billing"], "low", "super_admin", False),
]


@pytest.mark.parametrize(("scopes", "impact", "role", "allowed"), GRANTS)
def test_nobody_grants_more_than_they_hold(officer, make_user, scopes, impact, role, allowed):
    grantee = make_user()
    if allowed:
        authority_grant(user=grantee, role=role, scopes=scopes, max_impact=impact, granted_by=officer)
        assert DecisionAuthority.objects.filter(user=grantee).count() == 1
    else:
        with pytest.raises(Forbidden) as err:
            authority_grant(user=grantee, role=role, scopes=scopes, max_impact=impact, granted_by=officer)
        assert err.value.code == "grant_exceeds_authority"
        assert not DecisionAuthority.objects.filter(user=grantee).exists()


def test_a_grant_cannot_outlive_the_granters_own(make_user, grant):
    holder, grantee = make_user(), make_user()
    ends = timezone.now() + timedelta(days=5)
    grant(holder, scopes=["billing"], max_impact="high", expires_at=ends)
    with pytest.raises(Forbidden, match="must expire no later"):
        authority_grant(user=grantee, role="finance_officer", scopes=["billing"], max_impact="low", granted_by=holder)
    authority_grant(user=grantee, role="finance_officer", scopes=["billing"], max_impact="low", granted_by=holder,
                    expires_at=ends - timedelta(days=1))


def test_people_without_authority_and_self_grants_are_refused(make_user, officer):
    nobody = make_user()
    with pytest.raises(Forbidden, match="no decision authority"):
        authority_grant(user=make_user(), role="finance_officer", scopes=["billing"], max_impact="low",
                        granted_by=nobody)
    with pytest.raises(Forbidden) as err:
        authority_grant(user=officer, role="finance_officer", scopes=["billing"], max_impact="low",
                        granted_by=officer)
    assert err.value.code == "self_grant_forbidden"


def test_an_expired_or_revoked_authority_grants_nothing(make_user, grant, super_admin):
    holder = make_user()
    authority = grant(holder, scopes=["billing"], max_impact="high")
    DecisionAuthority.objects.filter(pk=authority.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(Forbidden):
        authority_grant(user=make_user(), role="finance_officer", scopes=["billing"], max_impact="low",
                        granted_by=holder)


INVALID = [
    ({"scopes": []}, "scopes"),
    ({"scopes": "billing"}, "scopes"),
    ({"scopes": ["Billing!"]}, "scopes"),
    ({"max_impact": "huge"}, "max_impact"),
    ({"role": "janitor"}, "role"),
    ({"expires_at": "past"}, "expires_at"),
]


@pytest.mark.parametrize(("change", "field"), INVALID)
def test_invalid_grants_are_refused_with_the_field(super_admin, make_user, change, field):
    if change.get("expires_at") == "past":
        change = {"expires_at": timezone.now() - timedelta(minutes=1)}
    values = {"role": "finance_officer", "scopes": ["billing"], "max_impact": "low"}
    with pytest.raises(InvalidInput) as err:
        authority_grant(user=make_user(), granted_by=super_admin, **{**values, **change})
    assert field in err.value.fields


def test_grants_go_only_to_active_users(super_admin, make_user):
    banned = make_user(status=User.Status.BANNED)
    with pytest.raises(InvalidInput) as err:
        authority_grant(user=banned, role="finance_officer", scopes=["billing"], max_impact="low",
                        granted_by=super_admin)
    assert "user" in err.value.fields


def test_revoke_ends_the_authority_and_is_audited(super_admin, officer):
    authority = DecisionAuthority.objects.get(user=officer)
    authority_revoke(authority_id=authority.pk, revoked_by=super_admin, reason="left the company")
    authority.refresh_from_db()
    assert not authority.active and authority.revoked_by == super_admin and not authority.is_in_force()
    with pytest.raises(Conflict):
        authority_revoke(authority_id=authority.pk, revoked_by=super_admin, reason="again")
    audit_sequence()
    event = AuditEvent.objects.get(type="AUTHORITY_REVOKED")
    assert event.before["active"] is True and event.after["active"] is False and event.reason == "left the company"


def test_revoking_needs_as_much_authority_as_granting(make_user, grant, officer):
    junior = make_user()
    grant(junior, scopes=["billing"], max_impact="low")
    target = DecisionAuthority.objects.get(user=officer)
    with pytest.raises(Forbidden):
        authority_revoke(authority_id=target.pk, revoked_by=junior, reason="not mine to revoke")
    with pytest.raises(InvalidInput):
        authority_revoke(authority_id=target.pk, revoked_by=junior, reason="")
    # The granter may revoke what they granted.
    granted = authority_grant(user=make_user(), role="finance_officer", scopes=["billing"], max_impact="low",
                              granted_by=officer)
    authority_revoke(authority_id=granted.pk, revoked_by=officer, reason="no longer needed")
