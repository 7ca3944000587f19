"""audit_export and the standalone verifier: no Django, same verdict as audit_verify."""
import io
import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from audit import chain
from audit.services import checkpoint_sign

from .conftest import record, tamper
from .test_verify import verify

pytestmark = pytest.mark.smoke

TOOL = settings.BASE_DIR / "tools" / "audit_verify_export.py"
# Runs the script with Django made unimportable: proof that it needs none of it.
NO_DJANGO = ("import runpy, sys; sys.modules['django'] = None; sys.argv = sys.argv[1:]; "
             "runpy.run_path(sys.argv[0], run_name='__main__')")


def standalone(*args) -> tuple[int, str, str]:
    result = subprocess.run([sys.executable, "-c", NO_DJANGO, str(TOOL), *map(str, args)], capture_output=True,
                            text=True, timeout=60, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
                            cwd="/")
    return result.returncode, result.stdout, result.stderr


def export(tmp_path):
    path = tmp_path / "audit.jsonl"
    call_command("audit_export", "-o", str(path), stderr=io.StringIO())
    return path


def verdict(text: str) -> str:
    """The part both verifiers must agree on: 'intact: N events…' or 'at sequence N: kind'."""
    line = text.strip().splitlines()[-1]
    return line.split(" (")[0]


@pytest.fixture
def chain_of_12(db, audit_log):
    record(12, target_type="payment", reason="ação ✓ \"quoted\" \\ back\tslash")
    return list(audit_log.events())


def test_the_export_is_one_json_object_per_event_in_sequence_order(chain_of_12, tmp_path):
    lines = export(tmp_path).read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["sequence"] for e in events] == list(range(1, 13))
    assert events[0]["hash"] == chain_of_12[0].hash
    assert events[0]["metadata"] == '{"i":0}'  # the stored text, as a string
    assert tuple(events[0]) == (*chain.CHAINED_FIELDS, "previous_hash", "hash")


def test_both_verifiers_find_an_intact_chain_intact(chain_of_12, tmp_path):
    code, out, _ = standalone(export(tmp_path))
    django_code, django_out, _ = verify()
    assert (code, django_code) == (0, 0)
    assert verdict(out) == verdict(django_out) == "audit chain intact: 12 events, head sequence 12 hash " + \
        chain_of_12[-1].hash[:16] + "…"


@pytest.mark.parametrize("sql, expected", [
    ("UPDATE audit_events SET reason = 'edited' WHERE sequence = 5", "sequence 5: content altered"),
    ("DELETE FROM audit_events WHERE sequence = 9", "sequence 9: gap"),
    ("UPDATE audit_events SET previous_hash = repeat('a', 64) WHERE sequence = 3", "sequence 3: link broken"),
    ("UPDATE audit_events SET after = '{\"x\": 1}' WHERE sequence = 2", "sequence 2: content altered"),
])
def test_both_verifiers_name_the_same_broken_sequence(chain_of_12, tmp_path, sql, expected):
    tamper(sql)
    code, _, err = standalone(export(tmp_path))
    django_code, _, django_err = verify()
    assert (code, django_code) == (1, 1)
    assert verdict(err) == verdict(django_err) == f"audit chain broken at {expected}"


def test_both_verifiers_catch_truncation_after_a_checkpoint(chain_of_12, tmp_path, checkpoint_key):
    from audit import checkpoints

    checkpoint_sign()
    directory = settings.AUDIT_CHECKPOINT_DIR
    public = checkpoints.public_key_text(checkpoints.signing_key().public_key())
    assert standalone(export(tmp_path), "--checkpoints", directory, "--public-key", public)[0] == 0
    tamper("DELETE FROM audit_events WHERE sequence > 10")
    path = export(tmp_path)
    assert standalone(path)[0] == 0
    code, _, err = standalone(path, "--checkpoints", directory, "--public-key", public)
    django_code, _, django_err = verify("--checkpoints", str(directory))
    assert (code, django_code) == (1, 1)
    assert verdict(err) == verdict(django_err) == "audit chain broken at sequence 11: truncated"


def test_the_standalone_verifier_refuses_a_checkpoint_from_a_key_it_was_not_given(chain_of_12, tmp_path,
                                                                                  checkpoint_key):
    import secrets

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from audit import checkpoints

    checkpoint_sign()
    other = Ed25519PrivateKey.from_private_bytes(secrets.token_bytes(32)).public_key()
    code, _, err = standalone(export(tmp_path), "--checkpoints", settings.AUDIT_CHECKPOINT_DIR,
                              "--public-key", checkpoints.public_key_text(other))
    assert (code, "not trusted" in err) == (1, True)


def test_a_tampered_export_file_is_caught_by_the_standalone_verifier(chain_of_12, tmp_path):
    path = export(tmp_path)
    lines = path.read_text(encoding="utf-8").splitlines()
    event = json.loads(lines[6])
    event["actor_type"] = "admin"
    lines[6] = json.dumps(event, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _, err = standalone(path)
    assert (code, verdict(err)) == (1, "audit chain broken at sequence 7: content altered")


def test_an_unreadable_export_exits_2(tmp_path):
    path = tmp_path / "junk.jsonl"
    path.write_text("not json\n")
    assert standalone(path)[0] == 2
    assert standalone(tmp_path / "absent.jsonl")[0] == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_command_exit_status_is_the_process_exit_status():
    record(3)
    tamper("UPDATE audit_events SET reason = 'edited' WHERE sequence = 2")
    params = connection.settings_dict
    url = f"postgres://{params['USER']}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}/{params['NAME']}"
    result = subprocess.run([sys.executable, "manage.py", "audit_verify"], cwd=settings.BASE_DIR, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "DATABASE_URL": url, "REDIS_URL": ""})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "audit chain broken at sequence 2: content altered" in result.stderr
    # The trigger is back on after the tampering: the database refuses changes again.
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_events SET reason = 'again' WHERE sequence = 1")
