"""Tenant helpers: who belongs to a tenant, and other tenants' objects are "not found"."""
import uuid

import pytest

from identity.selectors import app_user_get, tenant_user_get, user_in_tenant
from identity.services.apps import app_user_link
from prostqs.errors import NotFound

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def test_user_in_tenant_covers_the_owner_and_users_linked_to_any_of_its_apps(make_app, make_user):
    app, _c, _h = make_app()
    linked, outsider = make_user(), make_user()
    app_user_link(app=app, external_user_id="u-1", user_id=None, phone="+5511987650001")
    linked_user = app_user_get(app=app, external_user_id="u-1").user
    second_app, _c2, _h2 = make_app(owner=app.owner)
    app_user_link(app=second_app, external_user_id="x", user_id=linked_user.pk)
    assert user_in_tenant(user_id=app.owner_id, tenant_id=app.owner_id)
    assert user_in_tenant(user_id=linked_user.pk, tenant_id=app.owner_id)
    assert not user_in_tenant(user_id=linked.pk, tenant_id=app.owner_id)
    assert not user_in_tenant(user_id=outsider.pk, tenant_id=app.owner_id)
    assert not user_in_tenant(user_id="not-a-uuid", tenant_id=app.owner_id)


def test_other_tenants_users_are_not_found(make_app, make_user):
    app, _c, _h = make_app()
    other_app, _c2, _h2 = make_app()
    app_user_link(app=other_app, external_user_id="theirs", phone="+5511987650002")
    theirs = app_user_get(app=other_app, external_user_id="theirs")
    with pytest.raises(NotFound):
        tenant_user_get(tenant_id=app.owner_id, user_id=theirs.user_id)
    with pytest.raises(NotFound):
        app_user_get(app=app, external_user_id="theirs")
    with pytest.raises(NotFound):
        tenant_user_get(tenant_id=app.owner_id, user_id=uuid.uuid4())
    assert tenant_user_get(tenant_id=other_app.owner_id, user_id=theirs.user_id) == theirs.user
