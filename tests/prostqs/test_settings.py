"""Production settings refuse to start without a real secret and pass Django's deployment checks."""
import os
import subprocess
import sys

import pytest
from django.conf import settings

pytestmark = pytest.mark.smoke

STRONG_KEY = "q8V!zR2#mK5pL9@xT4wN7&cB1$hJ6^dF3*gS0%aY-eU+iO=rW-7bQ2"


def run_django(env_overrides, *args):
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    env.update({"DJANGO_SETTINGS_MODULE": "prostqs.settings", "DATABASE_URL": "sqlite:///:memory:",
                "REDIS_URL": "", **env_overrides})
    return subprocess.run([sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=120)


def test_production_refuses_a_missing_secret():
    result = run_django({"DEBUG": "false"}, "check")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize("weak", ["insecure-" + "a" * 60, "short-key", "a" * 64])
def test_production_refuses_a_weak_secret(weak):
    result = run_django({"DEBUG": "false", "SECRET_KEY": weak}, "check")
    assert result.returncode != 0
    assert "not a real secret" in result.stderr


def test_development_runs_without_a_secret():
    assert run_django({"DEBUG": "true"}, "check").returncode == 0


PRODUCTION = {"DEBUG": "false", "SECRET_KEY": STRONG_KEY, "ALLOWED_HOSTS": "prostqs.example",
              "SECRETS_MASTER_KEYS": "k1:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVoxMjM0NTY=",
              "OTP_HTTP_ACCOUNT_SID": "AC0123", "OTP_HTTP_AUTH_TOKEN": "provider-token",
              "OTP_HTTP_FROM": "+15550001111"}


def test_production_passes_the_deployment_checks():
    result = run_django(PRODUCTION, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_deployment_checks_refuse_production_without_an_sms_provider():
    result = run_django({**PRODUCTION, "OTP_HTTP_AUTH_TOKEN": ""}, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0 and "identity.E001" in result.stderr


# What a process has installed, and whether saving a user reaches the demo's receiver.
# (disconnect answers whether the receiver was connected.)
INSTALLED = ("from django.apps import apps; from django.db.models.signals import post_save; "
             "from identity.models import User; print(apps.is_installed('devtools'), "
             "post_save.disconnect(sender=User, dispatch_uid='governance.demo.on_user_saved'))")


def test_production_installs_no_development_tooling_and_no_demo_wiring():
    result = run_django(PRODUCTION, "shell", "--no-imports", "-c", INSTALLED)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_development_installs_the_tooling_and_connects_the_demo_wiring():
    result = run_django({"DEBUG": "true"}, "shell", "--no-imports", "-c", INSTALLED)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]


def test_the_deployment_checks_warn_when_a_production_process_installs_the_tooling():
    result = run_django({**PRODUCTION, "DEVTOOLS": "true"}, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0 and "devtools.W001" in result.stderr


@pytest.mark.django_db
def test_time_zone_is_utc_and_the_console_follows_the_browsers_language(client):
    assert settings.TIME_ZONE == "UTC" and settings.USE_TZ
    assert settings.USE_I18N and "pt-br" in dict(settings.LANGUAGES)
    console = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="pt-br")
    assert console.status_code == 200 and console["Content-Language"] == "pt-br"
    assert "<title>Acessar |" in console.content.decode()
    # The API answers in LANGUAGE_CODE, also right after a Portuguese console page on the same thread.
    api = client.get("/api/v1/identity/me", HTTP_ACCEPT_LANGUAGE="pt-br")
    assert api.status_code == 401
    assert api.json()["error"]["message"] == "Authentication credentials were not provided."
    assert "Content-Language" not in api
