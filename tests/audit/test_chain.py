"""The canonical form: pinned by a published example, equal to plain canonical JSON, and implemented the same way by
the standalone verifier."""
import functools
import importlib.util
import json
from datetime import UTC, datetime

import pytest
from django.conf import settings
from hypothesis import given
from hypothesis import strategies as st

from audit import chain
from core.integrity.canonical import canonical_json

pytestmark = pytest.mark.smoke

# The example printed in docs/specs/audit-chain.md: if this changes, every chain ever written stops verifying.
EXAMPLE = {
    "id": "6f1c1d2e-8a4b-4c6d-9e0f-112233445566", "sequence": 1, "type": "PAYMENT_CONFIRMED",
    "app_id": None, "actor_id": "0b5e7f1a-2c3d-4e5f-8a9b-0c1d2e3f4a5b", "actor_type": "system",
    "target_id": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "target_type": "payment", "action": "confirm",
    "before": '{"status":"pending"}', "after": '{"amount":1250,"status":"succeeded"}',
    "metadata": '{"provider":"stripe"}',
    "policy_id": None, "reason": "", "ip": None, "user_agent": "", "created_at": "2026-01-02T03:04:05.123456Z",
}
EXAMPLE_CANONICAL = (
    '{"action":"confirm","actor_id":"0b5e7f1a-2c3d-4e5f-8a9b-0c1d2e3f4a5b","actor_type":"system",'
    '"after":{"amount":1250,"status":"succeeded"},"app_id":null,"before":{"status":"pending"},'
    '"created_at":"2026-01-02T03:04:05.123456Z","id":"6f1c1d2e-8a4b-4c6d-9e0f-112233445566","ip":null,'
    '"metadata":{"provider":"stripe"},"policy_id":null,"reason":"","sequence":1,'
    '"target_id":"a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d","target_type":"payment","type":"PAYMENT_CONFIRMED",'
    '"user_agent":""}'
)
EXAMPLE_HASH = "v2:43fa98e7ef0c75baea320f1438c84ae6744ba8b0cd8ca65550bb96865e92412f"
# Format v1 (events written before hashes carried a version): the same digest, without the prefix.
EXAMPLE_HASH_V1 = EXAMPLE_HASH.removeprefix("v2:")


@functools.cache
def _tool():
    spec = importlib.util.spec_from_file_location("audit_verify_export",
                                                  settings.BASE_DIR / "tools" / "audit_verify_export.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_published_example_serialises_and_hashes_as_documented():
    assert chain.canonical(EXAMPLE).decode() == EXAMPLE_CANONICAL
    assert chain.event_hash(EXAMPLE, chain.GENESIS_HASH) == EXAMPLE_HASH
    assert chain.event_hash(EXAMPLE, chain.GENESIS_HASH, version=1) == EXAMPLE_HASH_V1


def test_the_specification_prints_the_same_example():
    page = (settings.BASE_DIR / "docs" / "specs" / "audit-chain.md").read_text()
    assert EXAMPLE_CANONICAL in page
    assert EXAMPLE_HASH in page


def test_the_previous_hash_is_part_of_the_hash():
    assert chain.event_hash(EXAMPLE, "1" * 64) != chain.event_hash(EXAMPLE, chain.GENESIS_HASH)


def test_a_missing_field_is_refused():
    incomplete = {k: v for k, v in EXAMPLE.items() if k != "reason"}
    with pytest.raises(ValueError, match="reason"):
        chain.canonical(incomplete)


def test_format_time_is_utc_with_microseconds():
    assert chain.format_time(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == "2026-01-02T03:04:05.000006Z"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)
optional_text = st.none() | st.text()


@st.composite
def contents(draw):
    content = {field: draw(optional_text) for field in chain.CHAINED_FIELDS}
    content["sequence"] = draw(st.integers(min_value=1, max_value=2**62))
    for field in chain.JSON_FIELDS:
        value = draw(st.none() | json_values)
        content[field] = None if value is None else canonical_json(value)
    return content


@given(contents())
def test_canonical_is_canonical_json_of_the_parsed_event(content):
    parsed = {k: (json.loads(v) if k in chain.JSON_FIELDS and v is not None else v) for k, v in content.items()}
    assert chain.canonical(content) == canonical_json(parsed).encode()


@given(contents(), st.text(alphabet="0123456789abcdef", min_size=64, max_size=64))
def test_the_standalone_verifier_computes_the_same_hash(content, previous):
    assert _tool().event_hash(content, previous) == chain.event_hash(content, previous)


def _link(content, **overrides):
    args = {"previous_hash": chain.GENESIS_HASH, "stored_hash": chain.event_hash(content, chain.GENESIS_HASH),
            "expected_sequence": 1, "expected_previous": chain.GENESIS_HASH}
    return chain.check_link(content, **{**args, **overrides})


def test_check_link_accepts_an_intact_event():
    assert _link(EXAMPLE) is None


def test_check_link_names_altered_content():
    problem = _link({**EXAMPLE, "reason": "edited"}, stored_hash=EXAMPLE_HASH)
    assert (problem.sequence, problem.kind) == (1, chain.CONTENT_ALTERED)


def test_check_link_names_a_broken_link():
    problem = _link(EXAMPLE, expected_previous="f" * 64)
    assert (problem.sequence, problem.kind) == (1, chain.LINK_BROKEN)


def test_check_link_names_the_missing_sequence_of_a_gap():
    problem = _link({**EXAMPLE, "sequence": 5}, expected_sequence=3)
    assert (problem.sequence, problem.kind) == (3, chain.GAP)
    assert "next present event is 5" in problem.detail
