"""The bench harness: each machine baseline is sampled just before the first measure compared with it."""
from bench.harness import Context, Measure, paired_order, run


def _measure(name: str, baseline: str | None = None, value: float = 1.0, log: list | None = None) -> Measure:
    def fn(ctx: Context) -> float:
        if log is not None:
            log.append(name)
        return value

    return Measure(name, "req/s", fn, name, baseline=baseline, group="test" if baseline else "baseline")


def test_each_machine_baseline_runs_just_before_the_first_measure_compared_with_it():
    measures = [_measure("B_a"), _measure("B_b"), _measure("B_unused"), _measure("free"), _measure("x", "B_a"),
                _measure("y", "B_b"), _measure("z", "B_a"), _measure("x_real", "x"), _measure("w", "B_missing")]
    order = [m.name for m in paired_order(measures)]
    # Project measures keep their order (a project baseline stays before what is compared with it).
    assert order == ["B_unused", "free", "B_a", "x", "B_b", "y", "z", "x_real", "w"]
    assert sorted(order) == sorted(m.name for m in measures)


def test_run_takes_the_rounds_in_paired_order_and_reports_in_the_given_order():
    log: list[str] = []
    measures = [_measure("B", value=200.0, log=log), _measure("other", value=5.0, log=log),
                _measure("m", "B", value=50.0, log=log)]
    measures[2].goal = (">=", 0.2)
    report = run(measures, Context(database_url="", seconds=0), rounds=2, log=lambda line: None)
    assert log == ["other", "B", "m"] * 2
    assert [row["name"] for row in report["results"]] == ["B", "other", "m"]
    row = report["results"][2]
    assert row["ratio"] == {"min": 0.25, "median": 0.25, "max": 0.25}
    assert row["goal_met"] is True
