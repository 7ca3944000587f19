import pytest
from django.apps import apps
from django.core.management import call_command

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def _counts():
    return {m._meta.label: m._default_manager.count() for m in apps.get_models()}


def test_seed_demo_is_idempotent():
    call_command("seed_demo")
    first = _counts()
    call_command("seed_demo")
    assert _counts() == first
