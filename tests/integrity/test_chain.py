"""The one chain encoder: versioned hashes, the v2 construction every chain shares, the check of one link, and
chains that hold both formats (older v1 elements, then v2 ones) verifying as one."""
from __future__ import annotations

import hashlib

import pytest
import rfc8785
from django.db import transaction
from django.db.models import TextField
from django.db.models.functions import Cast

from core.integrity import chain
from tests.integrity import legacy_rows


def test_hash_versions_are_read_off_the_stored_hash():
    assert chain.hash_version("a" * 64) == 1
    assert chain.hash_version("v2:" + "a" * 64) == 2
    for unknown in ("v3:" + "a" * 64, "v1:" + "a" * 64, "vx:abc"):
        with pytest.raises(chain.UnknownHashVersion):
            chain.hash_version(unknown)


def test_a_v2_link_is_the_prefixed_sha256_of_the_rfc8785_document_and_the_previous_hash():
    content = {"b": 1.0, "a": "é", "\U0001f600": 1, "\ue000": 2}
    previous = "v2:" + "1" * 64
    expected = hashlib.sha256(rfc8785.dumps(content) + previous.encode()).hexdigest()
    assert chain.link_hash(content, previous) == "v2:" + expected
    # v1: Python's spelling (1.0, keys by code point), no prefix.
    legacy = hashlib.sha256('{"a":"é","b":1.0,"\ue000":2,"\U0001f600":1}'.encode() + previous.encode()).hexdigest()
    assert chain.link_hash(content, previous, 1) == legacy


def _problem(**overrides):
    content = {"x": 1}
    args = {"sequence": 2, "previous_hash": "a" * 64, "stored_hash": chain.link_hash(content, "a" * 64),
            "expected_sequence": 2, "expected_previous": "a" * 64,
            "recompute": lambda version: chain.link_hash(content, "a" * 64, version)}
    return chain.link_problem(**{**args, **overrides})


def test_link_problem_accepts_an_intact_link_of_either_format():
    assert _problem() is None
    assert _problem(stored_hash=chain.link_hash({"x": 1}, "a" * 64, 1)) is None


def test_link_problem_names_a_gap_then_a_broken_link_then_altered_content():
    assert _problem(sequence=4)[0] == chain.GAP
    assert _problem(sequence=4, previous_hash="b" * 64)[0] == chain.GAP
    assert _problem(previous_hash="b" * 64)[0] == chain.LINK_BROKEN
    assert _problem(stored_hash="v2:" + "c" * 64)[0] == chain.CONTENT_ALTERED


def test_an_unknown_format_or_a_v1_hash_after_a_v2_one_is_altered_content():
    assert _problem(stored_hash="v9:" + "c" * 64) == (chain.CONTENT_ALTERED, "hash format v9: is unknown")
    previous = "v2:" + "a" * 64
    v1 = chain.link_hash({"x": 1}, previous, 1)
    kind, detail = _problem(previous_hash=previous, expected_previous=previous, stored_hash=v1,
                            recompute=lambda version: chain.link_hash({"x": 1}, previous, version))
    assert (kind, detail) == (chain.CONTENT_ALTERED, "hash format v1 after a v2 element")


@pytest.mark.django_db
def test_new_records_are_hashed_in_the_current_format(audit_log):
    from audit.models import AuditEvent
    from audit.services import audit_record

    with transaction.atomic():
        audit_record("AUDIT_VERIFIED", action="new", after={"ratio": 1.0, "tiny": 1e-07}, actor_type="system")
    event = audit_log.last("AUDIT_VERIFIED")
    assert event.hash.startswith("v2:") and len(event.hash) == 67
    stored = (AuditEvent.objects.filter(pk=event.pk).annotate(text=Cast("after", TextField()))
              .values_list("text", flat=True).get())
    assert stored == '{"ratio":1,"tiny":1e-7}'


@pytest.mark.django_db
def test_chains_written_before_continue_in_the_current_format_and_verify():
    """The legacy database keeps working: its audit chain and a lifecycle chain grow by v2 elements after their v1
    ones, and both verify."""
    from audit.models import AuditEvent
    from audit.services import audit_record, audit_sequence
    from audit.verification import chain_verify
    from memory.models import LifecycleTransition
    from memory.services import lifecycle_transition, verify_lifecycle_chains

    data = legacy_rows.load()
    decision_id = legacy_rows.row_dict(data, "lifecycle_transitions", 0)["decision_id"]
    with transaction.atomic():
        audit_record("AUDIT_VERIFIED", action="after the upgrade", metadata={"n": 2.5}, actor_type="system")
    state = LifecycleTransition.objects.filter(decision_id=decision_id).order_by("-sequence").first().to_state
    with transaction.atomic():
        row = lifecycle_transition(decision_id=decision_id, to_state="revoked" if state == "active" else "active",
                                   triggered_by_type="system", reason="continued after the upgrade")
    audit_sequence()
    assert row.hash.startswith("v2:") and chain.hash_version(row.previous_hash) == 1
    head = AuditEvent.objects.order_by("-sequence").first()
    assert head.hash.startswith("v2:") and AuditEvent.objects.filter(hash__startswith="v2:").count() >= 2
    first = next(legacy_rows.row_dict(data, "audit_events", i) for i in range(len(data["audit_events"]["rows"]))
                 if legacy_rows.row_dict(data, "audit_events", i)["sequence"] == 1)
    assert AuditEvent.objects.get(sequence=1).hash == first["hash"] and chain.hash_version(first["hash"]) == 1
    result = chain_verify()
    assert result.ok, result.summary()
    assert verify_lifecycle_chains().ok
