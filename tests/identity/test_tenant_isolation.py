"""An app's credentials reach only its tenant's data: anything of another tenant answers 404."""
import pytest

from identity.models import AppSession, AppUser, IdentityLink

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


@pytest.fixture
def tenants(make_app, app_client, prove):
    """Two tenants, each with an app, a linked and proven user and an open app session."""
    made = {}
    for name, phone in (("mine", "+5511912340001"), ("theirs", "+5511912340002")):
        app, _cred, header = make_app(scopes=["identity", "audit"])
        client = app_client(header)
        client.post("/api/v1/app/users", {"external_user_id": f"{name}-user", "phone": phone})
        user = prove(client, f"{name}-user")
        session = client.post("/api/v1/app/sessions", {"external_user_id": f"{name}-user"}).json()
        made[name] = {"app": app, "client": client, "user": user, "session": session}
    return made


def test_reads_of_another_tenants_objects_are_404(tenants):
    mine, theirs = tenants["mine"]["client"], tenants["theirs"]
    for url in (f"/api/v1/app/users/{theirs['user']['external_user_id']}",
                f"/api/v1/app/users/{theirs['user']['external_user_id']}/links",
                f"/api/v1/app/sessions/{theirs['session']['id']}"):
        response = mine.get(url)
        assert response.status_code == 404, url
        assert set(response.json()["error"]) == {"code", "message", "fields"}


def test_writes_to_another_tenants_objects_are_404_and_change_nothing(tenants):
    mine, theirs = tenants["mine"]["client"], tenants["theirs"]
    assert mine.delete(f"/api/v1/app/sessions/{theirs['session']['id']}").status_code == 404
    assert AppSession.objects.get(pk=theirs["session"]["id"]).status == "active"
    assert mine.post("/api/v1/app/sessions", {"external_user_id": theirs["user"]["external_user_id"]}
                     ).status_code == 404
    assert mine.post(f"/api/v1/app/users/{theirs['user']['external_user_id']}/links",
                     {"provider": "google", "provider_id": "g-1"}).status_code == 404
    assert not IdentityLink.objects.exists()


def test_linking_another_tenants_user_by_id_is_404(tenants):
    mine, theirs = tenants["mine"]["client"], tenants["theirs"]
    response = mine.post("/api/v1/app/users", {"external_user_id": "stolen", "user_id": theirs["user"]["user_id"]})
    assert response.status_code == 404
    assert not AppUser.objects.filter(external_user_id="stolen").exists()


def test_another_app_of_the_same_tenant_may_link_the_tenants_users(tenants, make_app, app_client):
    owner = tenants["mine"]["app"].owner
    _app, _cred, header = make_app(owner=owner, scopes=["identity"])
    response = app_client(header).post("/api/v1/app/users", {"external_user_id": "same-person",
                                                              "user_id": tenants["mine"]["user"]["user_id"]})
    assert response.status_code == 201


def test_a_shared_persons_links_are_listed_only_to_the_tenant_whose_app_made_them(tenants, make_app, app_client,
                                                                                  prove):
    """One person, a user of both tenants: each tenant sees the provider links its own apps made, no other's."""
    mine, theirs = tenants["mine"]["client"], tenants["theirs"]["client"]
    person = tenants["mine"]["user"]["user_id"]
    assert theirs.post("/api/v1/app/users", {"external_user_id": "shared", "phone": "+5511912340001"}
                       ).json()["user_id"] is None  # a claim says nothing of who the person is
    assert prove(theirs, "shared")["user_id"] == person
    assert theirs.post("/api/v1/app/users/shared/links", {"provider": "google", "provider_id": "g-theirs"}
                       ).status_code == 201
    assert mine.post("/api/v1/app/users/mine-user/links", {"provider": "apple", "provider_id": "a-mine"}
                     ).status_code == 201
    # Another app of my tenant made this one: still my tenant's.
    _app, _cred, header = make_app(owner=tenants["mine"]["app"].owner, scopes=["identity"])
    sibling = app_client(header)
    sibling.post("/api/v1/app/users", {"external_user_id": "p", "user_id": person})
    prove(sibling, "p")
    assert sibling.post("/api/v1/app/users/p/links", {"provider": "github", "provider_id": "gh-mine"}
                        ).status_code == 201

    def listed(client, external_user_id):
        return sorted(link["provider_id"] for link in client.get(f"/api/v1/app/users/{external_user_id}/links"
                                                                  ).json()["results"])

    assert listed(mine, "mine-user") == ["a-mine", "gh-mine"]
    assert listed(theirs, "shared") == ["g-theirs"]
    assert IdentityLink.objects.filter(user_id=person).count() == 3
    # The other tenant's link, asked for again by mine for the same person: refused as taken, nothing of it shown.
    again = mine.post("/api/v1/app/users/mine-user/links", {"provider": "google", "provider_id": "g-theirs"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "provider_identity_taken"
    assert "g-theirs" not in again.content.decode()
    # Mine again, from its sibling app: the existing link, 200.
    assert sibling.post("/api/v1/app/users/p/links", {"provider": "apple", "provider_id": "a-mine"}).status_code == 200
