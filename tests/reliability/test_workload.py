"""The seeded workload: invariants hold after it, and the same seed replays the same run."""
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from devtools.workload import run_workload

pytestmark = [pytest.mark.django_db]


def test_a_run_keeps_every_invariant_and_the_same_seed_replays_it():
    first = run_workload(seed=11, steps=50)
    assert first.ok, first.figures()
    assert first.five_xx == 0 and not first.shape_errors
    statuses = {s.status for s in first.steps}
    assert {200, 201} & statuses and {400, 404} & statuses, "the run mixes valid and invalid traffic"
    second = run_workload(seed=11, steps=50)
    assert second.trace() == first.trace()
    other = run_workload(seed=12, steps=50)
    assert other.trace() != first.trace()


def test_a_failing_run_names_its_seed(monkeypatch, capsys):
    from core.integrity import registry

    def broken():
        return registry.Check(checked=1, problems=["planted problem"])

    monkeypatch.setitem(registry._VERIFIERS, "planted", broken)
    with pytest.raises(CommandError) as raised:
        call_command("workload", "--seed", "5", "--steps", "10")
    assert "--seed 5 --steps 10" in str(raised.value)
    assert "planted" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_a_run_in_autocommit_as_in_production_has_no_server_error():
    """Outside a test transaction the hot reads run prepared in autocommit, and the workload's rollbacks make
    psycopg deallocate statements under them. This seed once gave four 500s there (a statement name given twice
    after a DEALLOCATE ALL)."""
    result = run_workload(seed=20261206, steps=300)
    assert result.five_xx == 0 and not result.shape_errors, result.figures()
    assert result.ok, result.figures()
