"""JoinedRows builds its instances as the ORM does (``Model.from_db``), with the joined rows cached on them."""
import pytest
from django.db.models.signals import post_init, pre_init

from identity.models import AppCredential, Application, AppUser, User
from identity.selectors import credential_with_app_user
from identity.services.apps import app_user_link

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def _without_state(instance) -> dict:
    return {key: value for key, value in vars(instance).items() if key != "_state"}


def test_instances_are_the_orms_attribute_for_attribute(make_app, django_assert_num_queries):
    app, cred, _h = make_app()
    app_user_link(app=app, external_user_id="u-1", phone="+5511987650011")
    credential, app_user = credential_with_app_user(public_key=cred.public_key, external_user_id="u-1")
    with django_assert_num_queries(0):  # the related rows read with it are cached on the instances
        assert credential.app.pk == credential.app_id and app_user.app is credential.app
        assert app_user.user.pk == app_user.user_id
    pairs = [(credential, AppCredential.objects.get(pk=cred.pk)), (credential.app, Application.objects.get(pk=app.pk)),
             (app_user, AppUser.objects.get(pk=app_user.pk)), (app_user.user, User.objects.get(pk=app_user.user_id))]
    for built, loaded in pairs:
        assert type(built) is type(loaded)
        assert list(_without_state(built).items()) == list(_without_state(loaded).items())
        assert (built._state.adding, built._state.db) == (False, "default")
    # They behave as loaded instances: saved as updates, related objects cached where the selector set them.
    app_user.user.email = "someone@example.com"
    app_user.user.save(update_fields=["email"])
    assert User.objects.get(pk=app_user.user_id).email == "someone@example.com"
    assert app_user.user is app_user.user and app_user.app is credential.app


@pytest.mark.parametrize("signal", [pre_init, post_init])
def test_a_model_with_an_init_receiver_goes_through_init(make_app, signal):
    app, cred, _h = make_app()
    app_user_link(app=app, external_user_id="u-1", phone="+5511987650012")
    seen = []

    def receiver(sender, **kwargs):
        seen.append(sender)

    signal.connect(receiver, sender=User)
    try:
        _credential, app_user = credential_with_app_user(public_key=cred.public_key, external_user_id="u-1")
    finally:
        signal.disconnect(receiver, sender=User)
    assert seen == [User]
    assert app_user.user.pk == app_user.user_id


def test_a_model_that_builds_its_instances_itself_is_heard(make_app, monkeypatch):
    """Instances come from each model's ``from_db``: a model that overrides it gets its say."""
    app, cred, _h = make_app()
    app_user_link(app=app, external_user_id="u-1", phone="+5511987650013")
    original = AppUser.from_db.__func__

    def from_db(cls, db, field_names, values):
        instance = original(cls, db, field_names, values)
        instance.loaded_from = db
        return instance

    monkeypatch.setattr(AppUser, "from_db", classmethod(from_db))
    _credential, app_user = credential_with_app_user(public_key=cred.public_key, external_user_id="u-1")
    assert app_user.loaded_from == "default" and app_user.external_user_id == "u-1"
