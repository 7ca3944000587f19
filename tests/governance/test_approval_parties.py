"""An approval request's parties (issue 23, finding 6): the people on whose behalf it acts are fixed with it, kept
by the database, never counted toward its quorum, reported by the verifier if one ever decided, and kept out of
the institutional memory of decisions taken on their behalf (tests/memory/test_parties.py)."""
from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from core.errors import InvalidInput
from governance.models import ApprovalDecision, ApprovalParty
from governance.parties import approval_parties_scope
from governance.services.approvals import approval_decisions_verify
from identity.models import User
from identity.services.sessions import session_open
from tests.clients import APIClient, Client

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]
WHY = "Matched the request against the contract on file."


def post_decision(user, request, decision="approved"):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {session_open(user=user).token}")
    return client.post(f"/api/v1/governance/approvals/{request.pk}/decisions",
                       {"decision": decision, "justification": WHY}, format="json")


@pytest.fixture
def authorities(make_user, grant):
    """People holding an authority over the ``test`` domain up to critical impact."""

    def make(count: int) -> list[User]:
        people = [make_user() for _ in range(count)]
        for person in people:
            grant(person, scopes=["test"], max_impact="critical")
        return people

    return make


def console_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def messages_of(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


# --- the request's parties ------------------------------------------------------------------------------------------


def test_a_party_named_by_the_creator_is_refused_with_nothing_written(request_factory, authorities, audit_log):
    owner, officer = authorities(2)
    request = request_factory(on_behalf_of=[(owner.pk, "agent_owner")])

    refused = post_decision(owner, request)

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "self_approval_forbidden"
    request.refresh_from_db()
    assert request.status == "pending" and not ApprovalDecision.objects.filter(request=request).exists()
    audit_log.assert_not_recorded("APPROVAL_DECIDED", target_id=request.pk)
    assert post_decision(officer, request).status_code == 201


def test_a_scope_gives_its_parties_to_the_requests_made_inside_it(request_factory, authorities):
    """How the agents pipeline tells governance whom a domain's request acts for, the domain knowing nothing."""
    owner, officer = authorities(2)
    with approval_parties_scope([(owner.pk, "agent_owner")]):
        request = request_factory()
    outside = request_factory()

    assert post_decision(owner, request).json()["error"]["code"] == "self_approval_forbidden"
    assert post_decision(owner, outside).status_code == 201
    assert post_decision(officer, request).status_code == 201


@pytest.mark.parametrize(("parties", "message"), [
    ([(uuid.uuid4(), "agent_owner")], "No such person"),
    ([("not-an-id", "agent_owner")], "pairs"),
    ("someone", "pairs"),
])
def test_parties_must_be_people_with_a_relation(request_factory, parties, message):
    with pytest.raises(InvalidInput) as refused:
        request_factory(on_behalf_of=parties)
    assert message in " ".join(refused.value.fields["on_behalf_of"])


def test_a_relation_must_be_known(request_factory, make_user):
    with pytest.raises(InvalidInput) as refused:
        request_factory(on_behalf_of=[(make_user().pk, "friend")])
    assert "relation" in " ".join(refused.value.fields["on_behalf_of"])


@pytest.mark.parametrize("statement", [
    "DELETE FROM approval_request_parties",
    "UPDATE approval_request_parties SET user_id = (SELECT id FROM users ORDER BY id LIMIT 1)",
])
def test_a_party_cannot_take_themselves_off_the_request_in_the_database(request_factory, authorities, statement):
    owner, = authorities(1)
    request = request_factory(on_behalf_of=[(owner.pk, "account_holder")])

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)

    assert post_decision(owner, request).json()["error"]["code"] == "self_approval_forbidden"


# --- quorum and verification ----------------------------------------------------------------------------------------


def test_an_approval_by_a_party_recorded_later_never_counts_and_the_verifier_reports_it(
        request_factory, authorities):
    """A critical request (two approvals) decided half-way before its parties were known; the party found later
    (as the migrations find them for requests made before parties existed)."""
    owner, second, third = authorities(3)
    request = request_factory(amount=50_000_000)
    assert request.required_approvals == 2
    assert post_decision(owner, request).status_code == 201
    ApprovalParty.objects.create(request=request, user=owner, relation="agent_owner")

    counted = post_decision(second, request).json()

    assert (counted["approvals"], counted["final"], counted["request"]["status"]) == (1, False, "pending")
    assert post_decision(third, request).json()["request"]["status"] == "approved"
    report = approval_decisions_verify()
    assert [p.detail for p in report.problems] == [
        "decided by a person on whose behalf the request acts (self-approval)"]
    assert report.problems[0].request_id == str(request.pk)
    with pytest.raises(CommandError, match="problem"):
        call_command("approvals_verify", stdout=StringIO(), stderr=StringIO())


def test_requests_and_decisions_made_before_parties_still_verify(request_factory, authorities):
    first, second = authorities(2)
    request = request_factory(amount=50_000_000)
    for person in (first, second):
        assert post_decision(person, request).status_code == 201
    out = StringIO()
    call_command("approvals_verify", stdout=out)
    assert "2 decisions verified, every hash matches" in out.getvalue()
