"""Dry run: replay recent contexts with a draft or a changed policy and report the outcomes that would change."""
import pytest

from core.errors import InvalidInput
from governance.models import Policy, PolicyEvaluation
from governance.services.policies import DryRunSample, policy_dry_run, policy_evaluate

pytestmark = [pytest.mark.smoke, pytest.mark.django_db]


@pytest.fixture
def history(make_policy):
    """An allow-all policy for ledger debits and six stored evaluations of amounts 100…600."""
    make_policy("allow-debits", effect="allow", priority=0)
    for amount in (100, 200, 300, 400, 500, 600):
        policy_evaluate(resource="ledger", action="debit", context={"amount": amount})
    policy_evaluate(resource="ads", action="pause", context={"amount": 10_000})


def test_a_draft_reports_the_outcomes_it_would_change(history):
    draft = Policy(name="deny-big", resource="ledger", action="debit", effect="deny", priority=10,
                   reason="Large debits are refused.", conditions=[{"field": "amount", "op": "gte", "value": 400}])
    report = policy_dry_run(policy=draft, last_n=50)
    assert report.samples == 6  # the ads evaluation is not for this resource and action
    assert sorted(c.sample.context["amount"] for c in report.changed) == [400, 500, 600]
    assert report.transitions() == {"allowed → denied": 3}
    assert report.unchanged == 3 and report.decided_by_candidate == 3 and report.base_version is None
    change = report.changed[0].as_dict()
    assert change["before"]["policy"] == "allow-debits" and change["after"]["policy"] == "deny-big"
    assert change["recorded_result"] == "allowed"
    assert not Policy.objects.filter(name="deny-big").exists()


def test_last_n_limits_the_replay_to_the_most_recent(history):
    draft = Policy(name="deny-all", resource="ledger", action="*", effect="deny", priority=10, reason="Stop.")
    report = policy_dry_run(policy=draft, last_n=2)
    assert report.samples == 2
    assert sorted(c.sample.context["amount"] for c in report.changed) == [500, 600]


def test_an_unsaved_change_to_a_stored_policy_is_compared_with_its_current_version(history, make_policy):
    cap = make_policy("cap", effect="deny", priority=5, conditions=[{"field": "amount", "op": "gt", "value": 500}])
    for amount in (450, 550):
        policy_evaluate(resource="ledger", action="debit", context={"amount": amount})
    edited = Policy.objects.get(pk=cap.pk)
    edited.conditions = [{"field": "amount", "op": "gt", "value": 300}]
    report = policy_dry_run(policy=edited, last_n=100)
    assert report.base_version == 1
    assert sorted(c.sample.context["amount"] for c in report.changed) == [400, 450, 500]
    assert Policy.objects.get(pk=cap.pk).conditions == [{"field": "amount", "op": "gt", "value": 500}]


def test_deactivating_shows_what_the_policy_was_deciding(history, make_policy):
    cap = make_policy("cap", effect="deny", priority=5, conditions=[{"field": "amount", "op": "gt", "value": 500}])
    edited = Policy.objects.get(pk=cap.pk)
    edited.active = False
    report = policy_dry_run(policy=edited, activate=False)
    assert [c.transition for c in report.changed] == ["denied → allowed"]
    assert report.changed[0].sample.context == {"amount": 600}


def test_explicit_samples_replace_stored_evaluations(make_policy):
    make_policy("allow", effect="allow")
    draft = Policy(name="approve-payouts", resource="billing", action="payout", effect="require_approval",
                   priority=3, reason="Payouts need a human.")
    samples = [DryRunSample("decision-1", "billing", "payout", {"amount": 1}),
               DryRunSample("decision-2", "billing", "credit", {"amount": 1})]
    report = policy_dry_run(policy=draft, samples=samples)
    assert report.samples == 2
    assert [(c.sample.ref, c.transition) for c in report.changed] == [("decision-1", "denied → pending_approval")]


def test_an_invalid_draft_is_refused(history):
    draft = Policy(name="bad", resource="ledger", action="debit", effect="deny", reason="x",
                   conditions=[{"field": "amount", "op": "around", "value": 5}])
    with pytest.raises(InvalidInput) as err:
        policy_dry_run(policy=draft)
    assert "conditions" in err.value.fields


def test_dry_run_writes_nothing(history):
    before = PolicyEvaluation.objects.count()
    policy_dry_run(policy=Policy(name="n", resource="ledger", action="debit", effect="deny", reason="r"))
    assert PolicyEvaluation.objects.count() == before


def test_a_wildcard_draft_replays_every_resource_and_action(history):
    draft = Policy(name="night-hold", resource="*", action="*", effect="require_approval", priority=50,
                   reason="Nobody watches at night.", conditions=[{"field": "amount", "op": "gte", "value": 600}])
    report = policy_dry_run(policy=draft, last_n=50)
    assert report.samples == 7  # the ledger evaluations and the ads one
    assert sorted(c.sample.context["amount"] for c in report.changed) == [600, 10_000]


def test_a_wildcard_action_keeps_the_resource_filter(history):
    draft = Policy(name="ads-open", resource="ads", action="*", effect="allow", priority=50, reason="Ads are fine.")
    report = policy_dry_run(policy=draft, last_n=50)
    assert report.samples == 1 and report.changed[0].sample.resource == "ads"
