"""Benchmark arithmetic: medians over repeats, ratios against a baseline, pass or fail."""

import json
import math

import pytest

from bench.results import (
    REPORT,
    Measure,
    Record,
    guarded,
    ratio_at_least,
    ratio_at_most,
    value_at_most,
    write_json,
)


def test_value_and_baseline_are_medians_and_the_ratio_is_the_median_of_per_repeat_ratios():
    measure = Measure("train", "steps/s", "steps/s", ratio_at_least(0.9))
    record = measure.summarise([10.0, 1.0, 4.0], [10.0, 2.0, 8.0])
    assert record.value == 4.0 and record.baseline == 8.0
    # Per repeat: 1.0, 0.5, 0.5 → median 0.5 (not median value / median baseline = 0.5 here
    # by chance, so a second case tells the two apart).
    assert record.ratio == 0.5 and record.passed is False
    apart = measure.summarise([1.0, 2.0, 9.0], [1.0, 4.0, 3.0])  # ratios 1, 0.5, 3
    assert apart.ratio == 1.0 and apart.value / apart.baseline == 2.0 / 3.0
    assert apart.passed is True


@pytest.mark.parametrize(
    "target, value, ratio, passed",
    [
        (ratio_at_least(0.8), 5.0, 0.8, True),  # the limit itself passes
        (ratio_at_least(0.8), 5.0, 0.79, False),
        (ratio_at_most(1.2), 5.0, 1.2, True),
        (ratio_at_most(1.2), 5.0, 1.21, False),
        (value_at_most(30.0, "min"), 30.0, None, True),
        (value_at_most(30.0, "min"), 30.5, None, False),
        (value_at_most(30.0, "min"), None, None, False),  # missing is a failure, not a pass
        (ratio_at_least(0.8), 5.0, math.nan, False),
        (REPORT, 5.0, 0.1, None),  # reported only
    ],
)
def test_targets_pass_at_their_limit_and_fail_beyond_it_or_without_a_figure(
    target, value, ratio, passed
):
    assert target.check(value, ratio) is passed


def test_a_zero_baseline_fails_its_ratio_target_without_a_crash():
    record = Measure("x", "m", "u", ratio_at_most(2.0)).summarise([1.0], [0.0])
    # The infinite ratio has no JSON form: it is written as null, and the target fails.
    assert record.ratio is None and record.passed is False


def test_mismatched_or_missing_repeats_are_errors():
    measure = Measure("x", "m", "u")
    with pytest.raises(ValueError, match="no measurements"):
        measure.summarise([])
    with pytest.raises(ValueError, match="differ in count"):
        measure.summarise([1.0, 2.0], [1.0])


def test_a_stage_that_raises_gives_failed_records_with_the_error_and_the_others_go_on():
    measures = [Measure("ingest", "a", "u", ratio_at_least(1)), Measure("ingest", "b", "u")]

    def broken():
        raise RuntimeError("worker died\ntraceback lines")

    records = guarded(measures, broken)
    assert [(r.measure, r.passed, r.value) for r in records] == [
        ("a", False, None),
        ("b", False, None),
    ]
    assert records[0].note == "failed: RuntimeError: worker died"


def test_records_round_trip_through_results_json(tmp_path):
    record = Measure("generate", "photos/s", "photos/s", ratio_at_least(0.8)).summarise(
        [96.9], [144.0], note="one repeat"
    )
    path = tmp_path / "results.json"
    write_json([record], str(path))
    (data,) = json.loads(path.read_text())
    assert data["pass"] is False and data["target"] == "ratio >= 0.8 x"
    assert Record.from_json(data) == record
