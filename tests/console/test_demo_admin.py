"""``manage.py demo_admin``: the demo's console administrator, for development only."""
import pytest
from django.core.management import call_command

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def test_demo_admin_reuses_the_same_login(settings, tmp_path, monkeypatch):
    from console.management.commands import demo_admin

    monkeypatch.setattr(demo_admin, "CREDENTIALS_FILE", tmp_path / "admin.json")
    settings.DEBUG = True
    call_command("demo_admin")
    first = (tmp_path / "admin.json").read_text()
    call_command("demo_admin")
    assert (tmp_path / "admin.json").read_text() == first
    from identity.models import User

    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff


def test_demo_admin_refuses_production(settings):
    from django.core.management.base import CommandError

    settings.DEBUG = False
    with pytest.raises(CommandError):
        call_command("demo_admin")
