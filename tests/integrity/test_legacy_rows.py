"""A database written before hashes carried a format version still verifies, and a byte changed in it does not.

The rows in ``legacy/`` were written by the code of that time (see ``legacy_rows``) and are inserted as stored."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.integrity import legacy_rows

pytestmark = pytest.mark.django_db


def _verify(name: str):
    """One verifier of the integrity registry, as ``verify_all`` runs it."""
    from core.integrity import registry

    return registry.verifiers()[name]()


def _audit_chain():
    return _verify("audit_chain")


def _approval_decisions():
    return _verify("approval_decisions")


def _lifecycle_chains():
    return _verify("lifecycle_chains")


def test_the_legacy_rows_verify_intact():
    legacy_rows.load()
    audit = _audit_chain()
    assert audit.ok, audit.problems
    assert audit.checked == len(legacy_rows.rows()["audit_events"]["rows"])
    decisions = _approval_decisions()
    assert decisions.ok and decisions.checked == 3, decisions.problems
    transitions = _lifecycle_chains()
    assert transitions.ok and transitions.checked == 5 and transitions.lifecycles == 3, transitions.problems


def test_verify_all_holds_on_the_legacy_rows(settings, tmp_path):
    from console import integrity

    settings.AUDIT_CHECKPOINT_DIR = str(tmp_path / "no-checkpoints")
    legacy_rows.load()
    report = integrity.run_all(store=False)
    assert report.ok, report.summary()


def _altered(table: str, column: str, match=None):
    """The legacy rows with one byte of one value changed (the first row for which ``match(row)`` holds)."""
    data = legacy_rows.rows()
    for index in range(len(data[table]["rows"])):
        row = legacy_rows.row_dict(data, table, index)
        if match is None or match(row):
            value = row[column]
            # One ASCII letter changes case: one byte, and JSON text stays JSON.
            at = next(i for i, c in enumerate(value) if c.isascii() and c.isalpha())
            changed = value[:at] + value[at].swapcase() + value[at + 1:]
            legacy_rows.set_value(data, table, index, column, changed)
            return data, row
    raise LookupError(table)


def test_one_byte_changed_in_an_audit_event_breaks_the_chain():
    data, _row = _altered("audit_events", "after", lambda r: r["sequence"] == 1)
    legacy_rows.load(data)
    audit = _audit_chain()
    assert not audit.ok and audit.problems[0].sequence == 1 and audit.problems[0].kind == "content altered"


def test_one_byte_changed_in_a_decision_fails_its_hash():
    data, row = _altered("approval_decisions", "justification", lambda r: r["sequence"] == 2)
    legacy_rows.load(data)
    decisions = _approval_decisions()
    assert [p.decision_id for p in decisions.problems] == [row["id"]]
    assert "hash does not match" in decisions.problems[0].detail


def test_one_byte_changed_in_a_request_context_fails_its_decisions():
    data = legacy_rows.rows()
    index = next(i for i in range(2) if legacy_rows.row_dict(data, "approval_requests", i)["amount"] == 20_000_000)
    context = legacy_rows.row_dict(data, "approval_requests", index)["context"]
    legacy_rows.set_value(data, "approval_requests", index, "context", context.replace("BRL", "BRX"))
    legacy_rows.load(data)
    decisions = _approval_decisions()
    assert len(decisions.problems) == 2
    assert all("hash does not match" in p.detail for p in decisions.problems)


def test_one_byte_changed_in_a_transition_fails_its_chain():
    data, row = _altered("lifecycle_transitions", "reason", lambda r: r["sequence"] == 3)
    legacy_rows.load(data)
    transitions = _lifecycle_chains()
    assert len(transitions.problems) == 1 and row["id"] in transitions.problems[0]
    assert "content altered" in transitions.problems[0]


def _retry(body):
    from billing.idempotency import RequestFingerprint, idempotency_run

    request = legacy_rows.idempotency_request()
    calls = []
    outcome = idempotency_run(scope="app:legacy", key="legacy-key-1",
                              fingerprint=RequestFingerprint(request["method"], request["path"], body),
                              call=lambda: (201, {"ran": calls.append(1) or True}), method=request["method"],
                              path=request["path"])
    return outcome, calls


def _load_live_key():
    """The legacy key, still within its lifetime (the one column changed: when it expires)."""
    data = legacy_rows.rows()
    legacy_rows.set_value(data, "idempotency_keys", 0, "expires_at", (timezone.now() + timedelta(hours=1)).isoformat())
    legacy_rows.load(data)


def test_a_retry_of_a_request_stored_with_the_old_fingerprint_replays():
    _load_live_key()
    outcome, calls = _retry(legacy_rows.idempotency_request()["body"])
    assert outcome.replayed and outcome.status == 201 and outcome.body == {"ok": True, "nota": "créditado"}
    assert calls == []


def test_a_different_request_under_a_key_stored_with_the_old_fingerprint_is_refused():
    from core.errors import Conflict

    _load_live_key()
    body = dict(legacy_rows.idempotency_request()["body"], nota="cafe")
    with pytest.raises(Conflict) as refused:
        _retry(body)
    assert refused.value.code == "idempotency_mismatch"
