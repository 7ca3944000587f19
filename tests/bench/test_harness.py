"""The bench harness: each baseline is sampled just before the measures compared with it."""
from bench.harness import Context, Measure, paired_order, run


def _measure(name: str, baseline: str | None = None, value: float = 1.0, log: list | None = None) -> Measure:
    def fn(ctx: Context) -> float:
        if log is not None:
            log.append(name)
        return value

    return Measure(name, "req/s", fn, name, baseline=baseline, group="test" if baseline else "baseline")


def test_each_baseline_is_followed_at_once_by_what_is_compared_with_it():
    measures = [_measure("B_a"), _measure("B_b"), _measure("x", "B_a"), _measure("y", "B_b"), _measure("free"),
                _measure("x_stub"), _measure("z", "B_a"), _measure("x_real", "x_stub"), _measure("w", "B_missing")]
    order = [m.name for m in paired_order(measures)]
    assert order == ["B_a", "x", "z", "B_b", "y", "free", "x_stub", "x_real", "w"]
    assert sorted(order) == sorted(m.name for m in measures)


def test_run_takes_the_rounds_in_paired_order_and_reports_in_the_given_order():
    log: list[str] = []
    measures = [_measure("B", value=200.0, log=log), _measure("other", value=5.0, log=log),
                _measure("m", "B", value=50.0, log=log)]
    measures[2].goal = (">=", 0.2)
    report = run(measures, Context(database_url="", seconds=0), rounds=2, log=lambda line: None)
    assert log == ["B", "m", "other"] * 2
    assert [row["name"] for row in report["results"]] == ["B", "other", "m"]
    row = report["results"][2]
    assert row["ratio"] == {"min": 0.25, "median": 0.25, "max": 0.25}
    assert row["goal_met"] is True
