"""One registry of verifiers, one report shape: every app's verifiers are registered, each returns a ``Check``
whose problems are ``Problem`` lines with their parts, and the runner turns any outcome into the same result."""
from __future__ import annotations

import pytest

from core.integrity import registry
from core.integrity.registry import Check, Problem

EVERY_APP = {"audit_chain", "append_only_triggers", "approval_decisions", "lifecycle_chains", "ledger",
             "ad_spend_totals", "evidence_ledger_entries", "evidence_payouts", "evidence_risk_history",
             "evidence_approval_request_parties"}


def test_each_app_registers_its_verifiers_when_ready():
    assert set(registry.verifiers()) >= EVERY_APP


def test_a_problem_is_its_report_line_and_keeps_its_parts():
    plain = Problem("account 7", "balance 5 but credits - debits = 4", account_id="7")
    assert plain == "account 7: balance 5 but credits - debits = 4"
    assert (plain.subject, plain.detail, plain.kind, plain.account_id) == ("account 7", plain.detail, "", "7")
    chained = Problem("sequence 3", "stored hash v2:ab… but the content hashes to v2:cd…", kind="content altered",
                      sequence=3)
    assert chained == "sequence 3: content altered (stored hash v2:ab… but the content hashes to v2:cd…)"
    assert chained.sequence == 3 and chained.as_dict()["kind"] == "content altered"
    assert Problem("risk_history rows 1, 2 have no event") == "risk_history rows 1, 2 have no event"
    with pytest.raises(AttributeError):
        _ = plain.request_id


def test_a_check_keeps_its_first_problems_and_counts_the_rest():
    check = Check(limit=2)
    for n in range(5):
        check.fail(f"row {n}", "changed")
    assert not check.ok and check.problem_count == 5 and check.problems == ["row 0: changed", "row 1: changed"]
    assert check.finish().problems[-1] == "… and 3 more"
    assert Check(checked=3).ok


def test_the_runner_gives_every_outcome_the_same_result_shape():
    def failing() -> Check:
        check = Check(checked=4)
        check.fail("account 1", "negative balance_after -5")
        return check

    def raising() -> Check:
        raise RuntimeError("disk on fire")

    failed = registry.run_one("failing", failing)
    assert (failed.ok, failed.checked, failed.problems, failed.problem_count) == (
        False, 4, ["account 1: negative balance_after -5"], 1)
    crashed = registry.run_one("raising", raising)
    assert not crashed.ok and crashed.problems == ["the verifier could not run: RuntimeError: disk on fire"]
    assert set(failed.as_dict()) == set(crashed.as_dict())


def test_only_names_known_verifiers():
    with pytest.raises(ValueError, match="unknown verifiers: nope"):
        registry.run(only=["nope"])


@pytest.mark.django_db
def test_every_registered_verifier_returns_a_check_with_problem_lines():
    from ads.models import AdBudget
    from tests.ads.conftest import make_setup_now

    setup = make_setup_now()
    AdBudget.objects.filter(pk=setup.budget.pk).update(amount_spent=7)
    for name, verify in registry.verifiers().items():
        outcome = verify()
        assert isinstance(outcome, Check), name
        assert all(isinstance(p, str) for p in outcome.problems), name
        if name == "ad_spend_totals":
            problem = outcome.problems[0]
            assert isinstance(problem, Problem) and problem.subject == f"ad_budgets {setup.budget.pk}"
