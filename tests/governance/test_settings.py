"""Governance settings are checked at start-up, with a message naming the setting."""
import pytest
from django.core.checks import run_checks

pytestmark = pytest.mark.smoke


@pytest.mark.parametrize(("name", "value", "message"), [
    ("APPROVAL_QUORUM", "billing.huge=2", "APPROVAL_QUORUM"),
    ("APPROVAL_QUORUM", "*.critical=0", "1 to 10 approvals"),
    ("APPROVAL_IMPACT_AMOUNTS", "5,4,3,2", "ascending"),
    ("APPROVAL_IMPACT_RISKS", "0.1,0.2", "four"),
    ("POLICY_DEFAULT_EFFECT", "maybe", "POLICY_DEFAULT_EFFECT"),
    ("AUTONOMY_DEFAULT_LEVEL", 7, "AUTONOMY_DEFAULT_LEVEL"),
    ("APPROVAL_TTL_SECONDS", 5, "APPROVAL_TTL_SECONDS"),
])
def test_bad_settings_fail_the_system_check(settings, name, value, message):
    setattr(settings, name, value)
    errors = [e for e in run_checks() if e.id == "governance.E001"]
    assert len(errors) == 1 and message in errors[0].msg


def test_the_defaults_pass(settings):
    assert not [e for e in run_checks() if e.id == "governance.E001"]
