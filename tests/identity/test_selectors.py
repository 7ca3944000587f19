"""Tenant helpers: who belongs to a tenant, and other tenants' objects are "not found"."""
import uuid

import pytest

from core.errors import NotFound
from identity.selectors import app_user_get, person_get, person_known_to_tenant, person_reachable
from identity.services.apps import app_user_attest, app_user_link

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def test_an_app_reaches_only_the_people_proven_through_it(make_app, make_user):
    app, _c, _h = make_app()
    claim, _ = app_user_link(app=app, external_user_id="u-1", user_id=None, phone="+5511987650001")
    assert not person_reachable(app_id=app.pk, user_id=claim.user_id)  # a claim grants nothing
    app_user_attest(app_user=claim, actor=None, reason="checked by a test")
    assert person_reachable(app_id=app.pk, user_id=claim.user_id)
    second_app, _c2, _h2 = make_app(owner=app.owner)
    sibling, _ = app_user_link(app=second_app, external_user_id="x", user_id=claim.user_id)
    assert not person_reachable(app_id=second_app.pk, user_id=sibling.user_id)  # each app needs its own proof
    assert person_known_to_tenant(tenant_id=app.owner_id, user_id=claim.user_id)
    assert not person_reachable(app_id=app.pk, user_id=app.owner_id)  # the owner is nobody's customer by default
    assert not person_reachable(app_id=app.pk, user_id=make_user().pk)
    assert not person_reachable(app_id=app.pk, user_id="not-a-uuid")


def test_other_tenants_users_are_not_found(make_app, make_user):
    app, _c, _h = make_app()
    other_app, _c2, _h2 = make_app()
    app_user_link(app=other_app, external_user_id="theirs", phone="+5511987650002")
    theirs = app_user_attest(app_user=app_user_get(app=other_app, external_user_id="theirs"), actor=None,
                             reason="checked by a test")
    with pytest.raises(NotFound):
        person_get(app_id=app.pk, user_id=theirs.user_id)
    with pytest.raises(NotFound):
        app_user_get(app=app, external_user_id="theirs")
    with pytest.raises(NotFound):
        person_get(app_id=app.pk, user_id=uuid.uuid4())
    assert person_get(app_id=other_app.pk, user_id=theirs.user_id) == theirs.user


def _field_values(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


def test_the_credential_read_with_an_app_user_returns_what_the_orm_returns(make_app):
    from identity.models import AppCredential, AppUser
    from identity.selectors import credential_with_app_user

    app, cred, _h = make_app(scopes=("identity", "billing"))
    app_user_link(app=app, external_user_id="u-1", phone="+5511987650003")
    credential, app_user = credential_with_app_user(public_key=cred.public_key, external_user_id="u-1")
    orm_credential = AppCredential.objects.select_related("app").get(pk=cred.pk)
    orm_app_user = AppUser.objects.select_related("user").get(app=app, external_user_id="u-1")
    assert _field_values(credential) == _field_values(orm_credential)
    assert _field_values(credential.app) == _field_values(orm_credential.app)
    assert _field_values(app_user) == _field_values(orm_app_user)
    assert _field_values(app_user.user) == _field_values(orm_app_user.user)
    assert app_user.app is credential.app
    assert not credential._state.adding and not app_user.user._state.adding


def test_the_credential_read_never_joins_another_apps_user(make_app):
    from identity.selectors import credential_with_app_user

    app, cred, _h = make_app()
    other_app, other_cred, _h2 = make_app()
    app_user_link(app=other_app, external_user_id="shared", phone="+5511987650004")
    # The other app's user with this external id exists; through this credential it is absent.
    credential, app_user = credential_with_app_user(public_key=cred.public_key, external_user_id="shared")
    assert credential.pk == cred.pk and app_user is None
    app_user_link(app=app, external_user_id="shared", phone="+5511987650005")
    ours = credential_with_app_user(public_key=cred.public_key, external_user_id="shared")[1]
    theirs = credential_with_app_user(public_key=other_cred.public_key, external_user_id="shared")[1]
    assert ours.app_id == app.pk and theirs.app_id == other_app.pk and ours.user_id != theirs.user_id
    assert ours.user.pk == ours.user_id and theirs.user.pk == theirs.user_id
    assert credential_with_app_user(public_key="pq_pk_unknown", external_user_id="shared") == (None, None)
