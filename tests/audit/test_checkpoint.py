"""Signed checkpoints: the key comes from the environment; production refuses to sign without one."""
import base64
import json
import secrets
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from audit import chain, checkpoints
from audit.selectors import chain_head
from audit.services import checkpoint_sign

from .conftest import record

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


def test_a_checkpoint_signs_the_head_with_the_configured_key(checkpoint_key, settings, audit_log):
    record(4)
    checkpoint = checkpoint_sign()
    doc = json.loads(checkpoint.path.read_text())
    assert checkpoint.path.parent == settings.AUDIT_CHECKPOINT_DIR
    assert (doc["sequence"], doc["format"]) == (4, chain.CHECKPOINT_FORMAT)
    assert doc["hash"] == audit_log.events().get(sequence=4).hash
    public = Ed25519PrivateKey.from_private_bytes(base64.b64decode(checkpoint_key)).public_key()
    public.verify(base64.b64decode(doc["signature"]), chain.checkpoint_message(4, doc["hash"], doc["time"]))
    assert doc["key_id"] == checkpoints.key_id(public)


def test_signing_is_recorded_in_the_log(checkpoint_key, audit_log):
    record(2)
    checkpoint = checkpoint_sign()
    event = audit_log.assert_recorded("AUDIT_CHECKPOINT_SIGNED")
    assert event.after == {"sequence": 2, "hash": checkpoint.hash, "time": checkpoint.time}
    assert event.metadata == {"key_id": checkpoint.key_id, "file": checkpoint.path.name}


def test_the_command_writes_into_the_given_directory(checkpoint_key, tmp_path, capsys):
    record(1)
    call_command("audit_checkpoint", "--dir", str(tmp_path / "elsewhere"))
    files = list((tmp_path / "elsewhere").glob("checkpoint-*.json"))
    assert len(files) == 1 and files[0].name.startswith("checkpoint-000000000001-")
    assert "checkpoint written" in capsys.readouterr().out


def test_production_refuses_to_sign_without_a_key(settings, tmp_path):
    settings.DEBUG = False
    settings.AUDIT_CHECKPOINT_KEY = ""
    settings.AUDIT_CHECKPOINT_DIR = tmp_path
    with pytest.raises(CommandError, match="AUDIT_CHECKPOINT_KEY is not set"):
        call_command("audit_checkpoint")
    assert not list(tmp_path.iterdir())
    assert chain_head() is None  # nothing recorded either


def test_debug_without_a_key_generates_one_into_var(settings, tmp_path, monkeypatch):
    settings.DEBUG = True
    settings.AUDIT_CHECKPOINT_KEY = ""
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    monkeypatch.setattr(checkpoints, "DEV_KEY_PATH", tmp_path / "var" / "audit-checkpoint-key")
    first = checkpoint_sign()
    assert stat.S_IMODE((tmp_path / "var" / "audit-checkpoint-key").stat().st_mode) == 0o600
    second = checkpoint_sign()
    assert first.key_id == second.key_id  # the generated key is kept


@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"short").decode()])
def test_a_malformed_key_is_refused(settings, bad):
    settings.AUDIT_CHECKPOINT_KEY = bad
    with pytest.raises(ImproperlyConfigured, match="32 bytes in base64"):
        checkpoints.signing_key()


def test_a_verify_only_machine_trusts_the_listed_public_keys(settings):
    key = Ed25519PrivateKey.from_private_bytes(secrets.token_bytes(32))
    settings.DEBUG = False
    settings.AUDIT_CHECKPOINT_KEY = ""
    settings.AUDIT_CHECKPOINT_PUBLIC_KEYS = [checkpoints.public_key_text(key.public_key())]
    assert list(checkpoints.trusted_public_keys()) == [checkpoints.key_id(key.public_key())]


def test_celery_beat_runs_the_sequencer_and_the_checkpoint():
    from prostqs.celery import app

    schedule = {entry["task"]: entry["schedule"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert schedule["audit.sequence"] == django_settings.AUDIT_SEQUENCE_INTERVAL
    assert schedule["audit.checkpoint"] == django_settings.AUDIT_CHECKPOINT_INTERVAL
    app.loader.import_default_modules()
    assert {"audit.sequence", "audit.checkpoint"} <= set(app.tasks)
