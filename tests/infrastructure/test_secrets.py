"""Secrets: AES-256-GCM round trip, tamper evidence, versions, rewrap across master keys, and no leaks."""
from __future__ import annotations

import base64
import io
import logging
import os
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from core.errors import Gone, InvalidInput, NotFound
from infrastructure import crypto, events
from infrastructure.crypto import SecretDecryptionError, parse_keyring
from infrastructure.models import Secret
from infrastructure.services.secrets import (
    aad_for,
    secret_get,
    secret_get_recent,
    secret_put,
    secret_revoke,
    secret_rotate,
    secret_versions,
)
from tests.infrastructure.conftest import audited, key

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]

VALUE = "sk_live_51Hq-very-distinctive-value-7c1e"


def flip(text: str, index: int) -> str:
    """Change one base64url character (keeping the alphabet)."""
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1:]


# --- the envelope -----------------------------------------------------------------------------------------------


def test_round_trip_and_the_stored_form(keyring):
    secret = secret_put("stripe.api_key", VALUE)
    assert secret_get("stripe.api_key") == VALUE
    fmt, key_id, nonce, _sealed = secret.encrypted_value.split(":")
    assert (fmt, key_id, secret.key_id) == ("v1", "t1", "t1")
    assert len(base64.urlsafe_b64decode(nonce + "==")) == 12  # 96-bit nonce
    assert VALUE not in secret.encrypted_value


def test_each_encryption_uses_a_fresh_nonce(keyring):
    a = secret_put("a", VALUE)
    b = secret_put("b", VALUE)
    assert a.encrypted_value.split(":")[2] != b.encrypted_value.split(":")[2]
    assert a.encrypted_value.split(":")[3] != b.encrypted_value.split(":")[3]


def test_unicode_values_survive(keyring):
    secret_put("greeting", "ção ☃ 🔑")
    assert secret_get("greeting") == "ção ☃ 🔑"


@pytest.mark.parametrize("part", ["ciphertext", "tag", "nonce"])
def test_tampering_with_the_stored_value_is_detected(keyring, part):
    secret = secret_put("webhook.signing", VALUE)
    fmt, key_id, nonce, sealed = secret.encrypted_value.split(":")
    if part == "ciphertext":
        sealed = flip(sealed, 2)
    elif part == "tag":
        sealed = flip(sealed, len(sealed) - 2)
    else:
        nonce = flip(nonce, 3)
    Secret.objects.filter(id=secret.id).update(encrypted_value=":".join([fmt, key_id, nonce, sealed]))
    with pytest.raises(SecretDecryptionError) as err:
        secret_get("webhook.signing")
    assert VALUE not in str(err.value)


@pytest.mark.parametrize("column,value", [("name", "other.name"), ("version", 7), ("environment", "staging"),
                                          ("app_id", uuid.uuid4())])
def test_a_ciphertext_only_opens_on_its_own_row(keyring, column, value):
    """The AAD binds the ciphertext to (id, app, environment, name, version): changing any of them breaks it."""
    secret = secret_put("bound", VALUE)
    Secret.objects.filter(id=secret.id).update(**{column: value})
    moved = Secret.objects.get(id=secret.id)
    with pytest.raises(SecretDecryptionError):
        crypto.decrypt(moved.encrypted_value, aad=aad_for(moved))


def test_a_ciphertext_copied_onto_another_row_does_not_open(keyring):
    source = secret_put("source", VALUE)
    target = secret_put("target", "something else")
    Secret.objects.filter(id=target.id).update(encrypted_value=source.encrypted_value)
    with pytest.raises(SecretDecryptionError):
        secret_get("target")


def test_a_value_under_a_key_that_left_the_keyring_is_reported_by_key_id(keyring, settings):
    secret_put("old", VALUE)
    settings.SECRETS_MASTER_KEYS = f"t9:{key(9)}"
    with pytest.raises(SecretDecryptionError, match="'t1' is not in SECRETS_MASTER_KEYS"):
        secret_get("old")


# --- keyring ----------------------------------------------------------------------------------------------------


def test_the_keyring_lists_newest_first():
    ring = parse_keyring(f"k2:{key(2)}, k1:{key(1)}")
    assert ring.primary == "k2" and list(ring.keys) == ["k2", "k1"]
    assert key(2) not in repr(ring) and "k2" in repr(ring)


def test_urlsafe_base64_keys_are_accepted():
    raw = bytes(range(250, 256)) * 5 + b"\xfb\xff"
    ring = parse_keyring("u1:" + base64.urlsafe_b64encode(raw).decode().rstrip("="))
    assert ring.keys["u1"] == raw


@pytest.mark.parametrize("text,message", [
    ("", "empty"),
    ("k1", "<id>:<base64 key>"),
    (f"bad id:{key(1)}", "<id>:<base64 key>"),
    ("k1:not*base64", "not valid base64"),
    (f"k1:{base64.b64encode(b'x' * 16).decode()}", "16 bytes"),
    (f"k1:{key(1)},k1:{key(2)}", "appears twice"),
])
def test_a_malformed_keyring_is_refused_without_echoing_key_material(text, message):
    with pytest.raises(ImproperlyConfigured, match=message) as err:
        parse_keyring(text)
    assert key(1) not in str(err.value)


# --- versions ---------------------------------------------------------------------------------------------------


def test_put_makes_a_new_version_and_rotates_the_previous(keyring):
    first = secret_put("partner.token", "one", type=Secret.Type.OAUTH_TOKEN)
    second = secret_put("partner.token", "two", type=Secret.Type.OAUTH_TOKEN)
    assert (first.version, second.version) == (1, 2)
    assert secret_get("partner.token") == "two"
    assert [(s.version, s.status) for s in secret_versions("partner.token")] == [(2, "active"), (1, "rotated")]
    assert len(audited(events.SECRET_CREATED)) == 1
    [rotated] = audited(events.SECRET_ROTATED)
    assert rotated.metadata["rotated_versions"] == [1] and rotated.after["version"] == 2


def test_rotate_without_a_value_generates_one(keyring):
    first = secret_put("hmac.key", "initial", type=Secret.Type.ENCRYPTION_KEY)
    new = secret_rotate(first)
    value = secret_get("hmac.key")
    assert new.version == 2 and new.type == Secret.Type.ENCRYPTION_KEY
    assert value != "initial" and len(value) >= 43


def test_apps_and_environments_keep_their_own_secrets(keyring):
    app = uuid.uuid4()
    secret_put("signing", "global-prod", environment="production")
    secret_put("signing", "global-staging", environment="staging")
    secret_put("signing", "app-prod", app_id=app, environment="production")
    assert secret_get("signing", environment="production") == "global-prod"
    assert secret_get("signing", environment="staging") == "global-staging"
    assert secret_get("signing", app_id=app, environment="production") == "app-prod"
    with pytest.raises(NotFound):
        secret_get("signing", app_id=uuid.uuid4(), environment="production")


def test_the_default_environment_comes_from_settings(keyring, settings):
    settings.SECRETS_ENVIRONMENT = "staging"
    assert secret_put("env.default", VALUE).environment == "staging"


def test_revoke_stops_reads_and_is_audited_with_its_reason(keyring):
    secret_put("leaked", "v1")
    secret_put("leaked", "v2")
    assert secret_revoke("leaked", reason="posted in a public channel") == [1, 2]
    with pytest.raises(NotFound):
        secret_get("leaked")
    assert {s.status for s in secret_versions("leaked")} == {"revoked"}
    [event] = audited(events.SECRET_REVOKED)
    assert event.reason == "posted in a public channel" and event.metadata["versions"] == [1, 2]
    with pytest.raises(NotFound):
        secret_revoke("leaked")


def test_revoking_one_old_version_keeps_the_active_one(keyring):
    secret_put("rolling", "v1")
    secret_put("rolling", "v2")
    assert secret_revoke("rolling", version=1) == [1]
    assert secret_get("rolling") == "v2"


def test_recent_values_keep_a_rotated_version_for_its_grace_period(keyring):
    app = uuid.uuid4()
    secret_put("hooks", "first", app_id=app)
    assert secret_get_recent("hooks", app_id=app, rotated_within=timedelta(hours=1)) == ["first"]
    secret_put("hooks", "second", app_id=app)
    assert secret_get_recent("hooks", app_id=app, rotated_within=timedelta(hours=1)) == ["second", "first"]
    assert secret_get_recent("hooks", app_id=app, rotated_within=timedelta(0)) == ["second"]
    second = Secret.objects.get(app_id=app, name="hooks", version=2)
    Secret.objects.filter(pk=second.pk).update(created_at=timezone.now() - timedelta(hours=2))
    assert secret_get_recent("hooks", app_id=app, rotated_within=timedelta(hours=1)) == ["second"]


def test_recent_values_never_include_revoked_or_expired_versions(keyring):
    secret_put("hooks2", "v1")
    secret_put("hooks2", "v2", expires_at=timezone.now() + timedelta(hours=1))
    secret_put("hooks2", "v3")
    day = timedelta(days=1)
    assert secret_get_recent("hooks2", rotated_within=day) == ["v3", "v2", "v1"]
    Secret.objects.filter(name="hooks2", version=2).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert secret_get_recent("hooks2", rotated_within=day) == ["v3", "v1"]
    secret_revoke("hooks2", version=2)
    assert secret_get_recent("hooks2", rotated_within=day) == ["v3"]  # the run of rotations stops at a revoked one
    secret_revoke("hooks2", version=3)
    with pytest.raises(NotFound):
        secret_get_recent("hooks2", rotated_within=day)


def test_an_expired_secret_is_gone(keyring):
    secret = secret_put("short.lived", VALUE, expires_at=timezone.now() + timedelta(hours=1))
    Secret.objects.filter(id=secret.id).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(Gone):
        secret_get("short.lived")


@pytest.mark.parametrize("kwargs", [
    {"name": "", "value": VALUE}, {"name": "x" * 129, "value": VALUE}, {"name": "ok", "value": ""},
    {"name": "ok", "value": VALUE, "type": "password"}, {"name": "ok", "value": VALUE, "environment": "qa"},
    {"name": "ok", "value": VALUE, "app_id": "not-a-uuid"},
    {"name": "ok", "value": VALUE, "expires_at": timezone.now() - timedelta(days=1)},
])
def test_bad_input_is_refused_and_nothing_is_stored(keyring, kwargs):
    with pytest.raises(InvalidInput):
        secret_put(kwargs.pop("name"), kwargs.pop("value"), **kwargs)
    assert not Secret.objects.exists()


# --- rewrap -----------------------------------------------------------------------------------------------------


def test_rewrap_after_adding_a_key_keeps_every_value_readable(settings):
    settings.SECRETS_MASTER_KEYS = f"k1:{key(1)}"
    values = {f"s{i}": f"value-{i}-{uuid.uuid4()}" for i in range(7)}
    for name, value in values.items():
        secret_put(name, value)
    secret_put("s0", "s0-second")  # a rotated version is rewrapped too
    values["s0"] = "s0-second"

    settings.SECRETS_MASTER_KEYS = f"k2:{key(2)},k1:{key(1)}"
    assert {s.key_id for s in Secret.objects.all()} == {"k1"}
    call_command("secrets_rewrap", "--batch-size", "3", stdout=io.StringIO())
    assert {s.key_id for s in Secret.objects.all()} == {"k2"}

    settings.SECRETS_MASTER_KEYS = f"k2:{key(2)}"  # the old key can now be dropped
    assert {name: secret_get(name) for name in values} == values
    rotated = Secret.objects.get(name="s0", version=1)
    assert crypto.decrypt(rotated.encrypted_value, aad=aad_for(rotated)).startswith("value-0-")
    assert sum(e.metadata["count"] for e in audited(events.SECRETS_REWRAPPED)) == 8


def test_rewrap_is_safe_to_interrupt_and_rerun(settings, monkeypatch, capsys):
    settings.SECRETS_MASTER_KEYS = f"k1:{key(1)}"
    values = {f"s{i}": f"value-{i}" for i in range(6)}
    for name, value in values.items():
        secret_put(name, value)
    settings.SECRETS_MASTER_KEYS = f"k2:{key(2)},k1:{key(1)}"

    real_encrypt, calls = crypto.encrypt, []

    def encrypt_then_die(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the second batch
        return real_encrypt(*args, **kwargs)

    monkeypatch.setattr(crypto, "encrypt", encrypt_then_die)
    with pytest.raises(KeyboardInterrupt):
        call_command("secrets_rewrap", "--batch-size", "3")
    monkeypatch.setattr(crypto, "encrypt", real_encrypt)
    assert sorted(s.key_id for s in Secret.objects.all()) == ["k1"] * 3 + ["k2"] * 3  # first batch kept
    assert {name: secret_get(name) for name in values} == values  # nothing half-written

    call_command("secrets_rewrap", "--batch-size", "3")
    out = capsys.readouterr().out
    assert "6/6" in out and "3 rewrapped" in out
    assert {s.key_id for s in Secret.objects.all()} == {"k2"}
    assert {name: secret_get(name) for name in values} == values


def test_rewrap_reports_unreadable_rows_and_still_does_the_rest(settings):
    settings.SECRETS_MASTER_KEYS = f"k1:{key(1)}"
    good = secret_put("good", VALUE)
    bad = secret_put("bad", VALUE)
    Secret.objects.filter(id=bad.id).update(encrypted_value=flip(bad.encrypted_value, len(bad.encrypted_value) - 3))
    settings.SECRETS_MASTER_KEYS = f"k2:{key(2)},k1:{key(1)}"
    with pytest.raises(CommandError, match="1 secret"):
        call_command("secrets_rewrap", stdout=io.StringIO(), stderr=io.StringIO())
    assert Secret.objects.get(id=good.id).key_id == "k2"
    assert Secret.objects.get(id=bad.id).key_id == "k1"


# --- no leaks ---------------------------------------------------------------------------------------------------


def test_the_value_never_appears_in_str_repr_logs_sql_or_audit(keyring, caplog):
    caplog.set_level(logging.DEBUG)
    connection.force_debug_cursor = True  # SQL logging on, as in DEBUG
    try:
        with CaptureQueriesContext(connection) as queries:
            secret = secret_put("leak.check", VALUE)
            rotated = secret_put("leak.check", VALUE + "-2")
            assert secret_get("leak.check") == VALUE + "-2"
            secret_revoke("leak.check", version=1, reason="test")
    finally:
        connection.force_debug_cursor = False
    everything = [str(secret), repr(secret), str(rotated), repr(rotated), caplog.text,
                  " ".join(q["sql"] for q in queries.captured_queries), repr(crypto.keyring())]
    for event in audited(events.SECRET_CREATED) + audited(events.SECRET_ROTATED) + audited(events.SECRET_REVOKED):
        everything += [repr(event.before), repr(event.after), repr(event.metadata), event.reason]
    assert AuditEvent.objects.filter(type__startswith="SECRET").count() == 3
    text = "\n".join(everything)
    assert "leak.check" in text  # the check looks at real content
    assert VALUE not in text and secret.encrypted_value not in "\n".join(everything[:4])


def test_production_refuses_to_start_without_master_keys():
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRETS_MASTER_KEYS")}
    env.update({"DEBUG": "false", "DATABASE_URL": "sqlite:///:memory:", "REDIS_URL": "",
                "SECRET_KEY": "q8V!zR2#mK5pL9@xT4wN7&cB1$hJ6^dF3*gS0%aY-eU+iO=rW-7bQ2", "ALLOWED_HOSTS": "x"})
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=django_settings.BASE_DIR, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "SECRETS_MASTER_KEYS must be set" in result.stderr
    short = base64.b64encode(b"k" * 16).decode()
    env["SECRETS_MASTER_KEYS"] = f"k1:{short}"
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=django_settings.BASE_DIR, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "AES-256 needs 32" in result.stderr
    assert short not in result.stderr


def test_development_generates_a_master_key_once(tmp_path, monkeypatch):
    from prostqs import settings as settings_module

    monkeypatch.setattr(settings_module, "BASE_DIR", tmp_path)
    first = settings_module._development_master_key()
    assert first == settings_module._development_master_key()
    assert parse_keyring(first).primary == "dev"
    assert oct((tmp_path / "var" / "dev-secrets-master-key").stat().st_mode)[-3:] == "600"
