"""audit_verify: exit 0 when intact, exit 1 naming the first broken sequence and why."""
import io
import json

import pytest
from django.core.management import call_command

from audit import chain
from audit.models import AuditEvent
from audit.services import audit_sequence, checkpoint_sign
from audit.verification import chain_verify

from .conftest import record, tamper


def verify(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("audit_verify", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def ten(db, audit_log):
    record(10)
    audit_sequence()


@pytest.mark.smoke
def test_an_intact_chain_exits_0(ten):
    code, out, _ = verify()
    assert code == 0
    assert "audit chain intact: 10 events, head sequence 10" in out


@pytest.mark.smoke
@pytest.mark.django_db
def test_an_empty_chain_is_intact():
    assert verify()[0] == 0


@pytest.mark.smoke
def test_an_edited_row_exits_1_naming_its_sequence(ten):
    tamper("UPDATE audit_events SET reason = 'nothing to see' WHERE sequence = 4")
    code, _, err = verify()
    assert code == 1
    assert "audit chain broken at sequence 4: content altered" in err


@pytest.mark.smoke
def test_an_edited_json_field_is_caught(ten):
    tamper("""UPDATE audit_events SET metadata = '{"i":99}' WHERE sequence = 6""")
    code, _, err = verify()
    assert (code, "sequence 6: content altered" in err) == (1, True)


@pytest.mark.smoke
def test_a_respelled_but_equal_json_field_is_caught(ten):
    """The hash covers the stored bytes: even an equivalent spelling of the JSON is a change."""
    tamper("""UPDATE audit_events SET metadata = '{"i": 2}' WHERE sequence = 3""")
    assert "sequence 3: content altered" in verify()[2]


@pytest.mark.smoke
def test_a_row_rehashed_after_editing_breaks_the_next_link(ten):
    event = AuditEvent.objects.get(sequence=5)
    content = {**json.loads(json.dumps(_content(event))), "reason": "forged"}
    forged_hash = chain.event_hash(content, event.previous_hash)
    tamper("UPDATE audit_events SET reason = 'forged', hash = %s WHERE sequence = 5", [forged_hash])
    code, _, err = verify()
    assert code == 1
    assert "sequence 6: link broken" in err


@pytest.mark.smoke
def test_a_deleted_row_is_a_gap(ten):
    tamper("DELETE FROM audit_events WHERE sequence = 7")
    code, _, err = verify()
    assert code == 1
    assert "sequence 7: gap (sequence 7 is missing; next present event is 8)" in err


@pytest.mark.smoke
def test_a_missing_first_event_is_a_gap_at_1(ten):
    tamper("DELETE FROM audit_events WHERE sequence = 1")
    assert "sequence 1: gap" in verify()[2]


@pytest.mark.smoke
def test_only_the_first_problem_is_reported(ten):
    tamper("UPDATE audit_events SET reason = 'x' WHERE sequence IN (3, 8)")
    err = verify()[2]
    assert "sequence 3" in err and "sequence 8" not in err


@pytest.mark.smoke
def test_progress_is_shown_on_a_terminal(ten):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    call_command("audit_verify", "--chunk-size", "3", stdout=out)
    assert "\r  verified 10/10 events" in out.getvalue()


@pytest.mark.smoke
def test_no_progress_when_not_on_a_terminal(ten):
    assert "verified" not in verify("--chunk-size", "3")[1]


@pytest.mark.smoke
def test_small_chunks_verify_the_same_chain(ten):
    result = chain_verify(chunk_size=3)
    assert (result.ok, result.checked, result.head_sequence) == (True, 10, 10)


def _content(event):
    from audit.services import content_of

    return content_of(event, event_id=event.id, sequence=event.sequence)


# Checkpoints.

@pytest.fixture
def checkpointed(ten, checkpoint_key, settings):
    checkpoint = checkpoint_sign()  # vouches for sequence 10 (its own event becomes 11)
    assert checkpoint.sequence == 10
    return settings.AUDIT_CHECKPOINT_DIR


@pytest.mark.smoke
def test_checkpoints_hold_on_an_intact_chain(checkpointed):
    code, out, _ = verify("--checkpoints", str(checkpointed))
    assert code == 0
    assert "1 signed checkpoints hold" in out


@pytest.mark.smoke
def test_checkpoints_default_to_the_configured_directory(checkpointed):
    assert "1 signed checkpoints hold" in verify("--checkpoints")[1]


@pytest.mark.smoke
def test_deleting_the_last_rows_after_a_checkpoint_is_caught_only_with_checkpoints(checkpointed):
    tamper("DELETE FROM audit_events WHERE sequence >= 8")
    assert verify()[0] == 0  # what is left is a perfectly valid, shorter chain
    code, _, err = verify("--checkpoints", str(checkpointed))
    assert code == 1
    assert "sequence 8: truncated" in err
    assert "vouches for sequence 10" in err


@pytest.mark.smoke
def test_rewriting_the_tail_after_a_checkpoint_is_caught(checkpointed, settings):
    tamper("DELETE FROM audit_events WHERE sequence >= 9")
    settings.AUDIT_SEQUENCE_ON_COMMIT = False
    record(3, action="rewritten")
    audit_sequence()
    assert verify()[0] == 0
    code, _, err = verify("--checkpoints", str(checkpointed))
    assert (code, "sequence 10: checkpoint mismatch" in err) == (1, True)


@pytest.mark.smoke
def test_a_checkpoint_file_edited_by_hand_is_refused(checkpointed):
    path = next(checkpointed.glob("checkpoint-*.json"))
    doc = json.loads(path.read_text())
    doc["sequence"] = 11
    path.write_text(json.dumps(doc))
    code, _, err = verify("--checkpoints", str(checkpointed))
    assert (code, "bad checkpoint" in err, "signature does not match" in err) == (1, True, True)


@pytest.mark.smoke
def test_a_checkpoint_signed_by_another_key_is_refused(checkpointed, settings):
    import base64
    import secrets

    settings.AUDIT_CHECKPOINT_KEY = base64.b64encode(secrets.token_bytes(32)).decode()
    code, _, err = verify("--checkpoints", str(checkpointed))
    assert (code, "not trusted" in err) == (1, True)


@pytest.mark.smoke
def test_an_old_key_listed_as_trusted_still_verifies(checkpointed, settings, checkpoint_key):
    import base64
    import secrets

    from audit import checkpoints

    old_public = checkpoints.public_key_text(checkpoints.signing_key().public_key())
    settings.AUDIT_CHECKPOINT_KEY = base64.b64encode(secrets.token_bytes(32)).decode()
    settings.AUDIT_CHECKPOINT_PUBLIC_KEYS = [old_public]
    assert verify("--checkpoints", str(checkpointed))[0] == 0


@pytest.mark.smoke
def test_an_unreadable_checkpoint_is_reported(checkpointed):
    (checkpointed / "checkpoint-000000000099-x.json").write_text("{not json")
    code, _, err = verify("--checkpoints", str(checkpointed))
    assert (code, "is not a readable checkpoint" in err) == (1, True)


@pytest.mark.smoke
@pytest.mark.django_db
def test_a_missing_checkpoint_directory_is_reported(tmp_path):
    code, _, err = verify("--checkpoints", str(tmp_path / "absent"))
    assert (code, "does not exist" in err) == (1, True)
