"""JoinedRows builds its instances without ``Model.__init__`` only where that changes nothing."""
import pytest
from django.db import models
from django.db.models.signals import post_init, pre_init

from identity.models import AppCredential, Application, AppUser, User
from identity.rows import stores_plainly
from identity.selectors import _CREDENTIAL_WITH_APP_USER, credential_with_app_user
from identity.services.apps import app_user_link

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def _without_state(instance) -> dict:
    return {key: value for key, value in vars(instance).items() if key != "_state"}


def test_the_credential_reads_models_are_built_directly():
    plans = _CREDENTIAL_WITH_APP_USER._plan("default")[1]
    assert [(model, plain) for model, *_rest, plain in plans] == [
        (AppCredential, True), (Application, True), (AppUser, True), (User, True)]


def test_instances_built_directly_are_the_orms_attribute_for_attribute(make_app, django_assert_num_queries):
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


def test_a_model_that_does_more_on_init_is_not_built_directly(monkeypatch):
    attnames = [field.attname for field in AppUser._meta.concrete_fields]
    assert stores_plainly(AppUser, attnames)
    with monkeypatch.context() as patch:
        patch.setattr(AppUser, "status", property(lambda self: "active"))
        assert not stores_plainly(AppUser, attnames)
    with monkeypatch.context() as patch:
        patch.setattr(AppUser, "__init__", lambda self, *args, **kwargs: models.Model.__init__(self, *args, **kwargs))
        assert not stores_plainly(AppUser, attnames)
    with monkeypatch.context() as patch:
        patch.setattr(AppUser, "from_db", classmethod(lambda cls, db, names, values: None))
        assert not stores_plainly(AppUser, attnames)
    assert stores_plainly(AppUser, attnames)
