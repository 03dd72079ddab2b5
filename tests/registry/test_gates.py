"""The promotion gates as plain functions, and the promotion config that sets their thresholds."""

import math

import numpy as np
import pytest

from idphoto.config import ConfigError, config_dir, parse_override
from idphoto.registry.config import NearCopyConfig, QualityConfig, load_promote_config
from idphoto.registry.gates import (
    FAILED,
    FORCED,
    PASSED,
    licence_gate,
    licence_gate_under_two_policies,
    near_copy_gate,
    quality_gate,
)
from idphoto.registry.nearcopy import Match
from idphoto.tracking.lineage import Violation

QUALITY = QualityConfig(max_swd=0.08, min_id_compliance=0.5, beat_current=True)
NEAR = NearCopyConfig(samples=3, seed=0, neighbours=5, max_ratio=0.45, chunk=4, pairs_to_log=2)
PHOTO_IDS = ["synthetic-0000", "synthetic-0001", "synthetic-0002", "grace-hopper"]


def _metrics(swd=0.05, compliance=0.8):
    return {"swd": swd, "id_compliance": compliance, "d_loss": 1.3}


# --- quality ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "metrics, holder, status, in_figure",
    [
        (_metrics(), None, PASSED, ["swd 0.05 <= 0.08", "id_compliance 0.800 >= 0.500"]),
        (_metrics(), 0.07, PASSED, ["holder 0.07"]),
        (_metrics(swd=0.08), None, PASSED, ["swd 0.08 <= 0.08"]),  # the threshold itself passes
        (_metrics(compliance=0.5), None, PASSED, ["id_compliance 0.500 >= 0.500"]),
        (_metrics(swd=0.0801), None, FAILED, ["swd 0.0801 > 0.08"]),
        (_metrics(swd=3.2), 0.07, FAILED, ["swd 3.2 > 0.08"]),
        (_metrics(compliance=0.499), None, FAILED, ["id_compliance 0.499 < 0.500"]),
        (_metrics(swd=0.05), 0.05, FAILED, ["swd 0.05 does not beat the alias holder's 0.05"]),
        (_metrics(swd=0.06), 0.05, FAILED, ["does not beat the alias holder's 0.05"]),
        (
            _metrics(swd=0.09, compliance=0.1),
            None,
            FAILED,
            ["swd 0.09 > 0.08", "id_compliance 0.100 < 0.500"],
        ),
        ({"id_compliance": 0.9}, None, FAILED, ["no swd/id_compliance evaluation"]),
        ({"swd": 0.01}, None, FAILED, ["no swd/id_compliance evaluation"]),
        ({}, 0.07, FAILED, ["no swd/id_compliance evaluation"]),
    ],
    ids=[
        "within-thresholds",
        "beats-holder",
        "swd-at-max",
        "compliance-at-min",
        "swd-just-above-max",
        "swd-far-above-max",
        "compliance-just-below-min",
        "swd-ties-holder",
        "swd-worse-than-holder",
        "both-thresholds-missed",
        "swd-missing",
        "compliance-missing",
        "no-metrics",
    ],
)
def test_quality_gate_checks_thresholds_and_the_alias_holder(metrics, holder, status, in_figure):
    result = quality_gate(metrics, QUALITY, holder)
    assert result.name == "quality"
    assert result.status == status
    assert result.ok is (status == PASSED)
    for text in in_figure:
        assert text in result.figure


def test_beat_current_is_ignored_when_there_is_no_holder_or_it_is_switched_off():
    lenient = QualityConfig(max_swd=0.08, min_id_compliance=0.5, beat_current=False)
    worse_than_holder = _metrics(swd=0.07)
    assert quality_gate(worse_than_holder, lenient, holder_swd=0.01).status == PASSED
    assert quality_gate(worse_than_holder, QUALITY, holder_swd=None).status == PASSED
    assert quality_gate(worse_than_holder, QUALITY, holder_swd=0.01).status == FAILED


def test_beat_current_still_requires_the_absolute_thresholds():
    # Beating a poor holder is not enough: max_swd still applies.
    result = quality_gate(_metrics(swd=0.5), QUALITY, holder_swd=0.9)
    assert result.status == FAILED
    assert "swd 0.5 > 0.08" in result.figure
    assert "does not beat" not in result.figure


def test_force_reason_turns_a_failed_quality_gate_into_forced_with_the_reason():
    reason = "baseline for the commercial alias, approved by J. Doe"
    result = quality_gate(_metrics(swd=0.2), QUALITY, holder_swd=0.05, force_reason=reason)
    assert result.status == FORCED
    assert result.ok
    assert "swd 0.2 > 0.08" in result.figure  # what was overridden stays visible
    assert "does not beat the alias holder's 0.05" in result.figure
    assert f"(forced: {reason})" in result.figure


def test_force_reason_leaves_a_passing_quality_gate_passed():
    result = quality_gate(_metrics(), QUALITY, holder_swd=0.07, force_reason="just in case")
    assert result.status == PASSED
    assert "forced" not in result.figure


@pytest.mark.parametrize("reason", [None, ""])
def test_an_empty_force_reason_does_not_force(reason):
    result = quality_gate(_metrics(swd=0.2), QUALITY, None, force_reason=reason)
    assert result.status == FAILED
    assert not result.ok


def test_a_run_without_an_evaluation_cannot_be_forced():
    result = quality_gate({"d_loss": 0.7}, QUALITY, None, force_reason="ship it")
    assert result.status == FAILED
    assert not result.ok


@pytest.mark.parametrize("metrics", [_metrics(swd=math.nan), _metrics(compliance=math.nan)])
def test_a_nan_metric_fails_the_quality_gate(metrics):
    assert quality_gate(metrics, QUALITY, holder_swd=None).status == FAILED


# --- licence ---------------------------------------------------------------------------------


def test_licence_gate_passes_when_no_training_row_violates_the_policy():
    result = licence_gate("commercial", accepted_rows=12, found=[])
    assert result.name == "licence"
    assert result.status == PASSED
    assert result.ok
    assert result.figure == "all 12 training rows allow commercial use"


def test_licence_gate_counts_violations_by_reason_and_names_examples():
    found = [
        Violation("synthetic-0004", "Attribution-NonCommercial", "cc-by-nc", "non_commercial"),
        Violation("synthetic-0008", "CC-BY-4.0", "cc-by", "consent_missing"),
        Violation("synthetic-0012", "CC BY-NC-SA 2.0", "cc-by-nc-sa", "non_commercial"),
        Violation("synthetic-0017", "CC BY-NC 2.0", "cc-by-nc", "non_commercial"),
    ]
    result = licence_gate("commercial", accepted_rows=10, found=found)
    assert result.status == FAILED
    assert not result.ok
    assert "4 of 10 training rows are not allowed for commercial use" in result.figure
    assert "1 consent_missing, 3 non_commercial" in result.figure
    assert "e.g. synthetic-0004, synthetic-0008, synthetic-0012" in result.figure
    assert "synthetic-0017" not in result.figure  # examples, not the whole list


NC = Violation("synthetic-0004", "Attribution-NonCommercial", "cc-by-nc", "non_commercial")
BY = Violation("synthetic-0002", "CC BY 2.0", "cc-by", "use_not_allowed")


def test_a_second_policy_shows_both_decisions_and_names_the_rows_they_differ_on():
    result = licence_gate_under_two_policies("commercial", 10, [], [BY], "--policy strict.yaml")
    assert result.status == FAILED
    dataset_part, other_part, difference = result.figure.split(" | ")
    assert dataset_part == "dataset's policy: passed, all 10 training rows allow commercial use"
    assert other_part.startswith("--policy strict.yaml: failed, 1 of 10 training rows")
    assert difference == "difference: 1 rejected only by --policy strict.yaml (e.g. synthetic-0002)"


def test_two_policies_must_both_allow_and_each_one_sided_rejection_is_named():
    result = licence_gate_under_two_policies("commercial", 10, [NC], [BY], "--policy p.yaml")
    assert result.status == FAILED
    assert "1 rejected only by the dataset's policy (e.g. synthetic-0004)" in result.figure
    assert "1 rejected only by --policy p.yaml (e.g. synthetic-0002)" in result.figure
    agreeing = licence_gate_under_two_policies("commercial", 10, [], [], "--policy p.yaml")
    assert agreeing.status == PASSED
    assert agreeing.figure.endswith("the two policies agree on every training row")


@pytest.mark.parametrize(
    "found", [[], [Violation("grace-hopper", "", "empty", "empty_licence")]], ids=["clean", "dirty"]
)
def test_licence_gate_fails_without_training_rows(found):
    result = licence_gate("research", accepted_rows=0, found=found)
    assert result.status == FAILED
    assert "no training rows" in result.figure


# --- near-copy -------------------------------------------------------------------------------


def _matches(closest_ratio):
    return [
        Match(sample=0, training=3, distance=0.60, ratio=0.81, mirrored=False),
        Match(sample=1, training=2, distance=0.20, ratio=closest_ratio, mirrored=True),
        Match(sample=2, training=0, distance=0.55, ratio=0.77, mirrored=False),
    ]


@pytest.mark.parametrize(
    "ratio, status",
    [
        (np.nextafter(0.45, 0.0), FAILED),
        (0.30, FAILED),
        (0.45, PASSED),
        (np.nextafter(0.45, 1.0), PASSED),
        (0.60, PASSED),
    ],
    ids=["just-below", "well-below", "at-threshold", "just-above", "well-above"],
)
def test_near_copy_gate_fails_only_below_max_ratio(ratio, status):
    result = near_copy_gate(_matches(float(ratio)), NEAR, PHOTO_IDS)
    assert result.name == "near_copy"
    assert result.status == status
    copies = 1 if status == FAILED else 0
    assert result.figure.startswith(f"{copies} of 3 samples below ratio 0.45")


def test_near_copy_gate_names_the_closest_sample_and_its_photo_id():
    result = near_copy_gate(_matches(0.12), NEAR, PHOTO_IDS)
    assert "closest 0.120 (sample 1 ~ photo synthetic-0002)" in result.figure


def test_near_copy_gate_counts_every_copy():
    matches = [m if m.sample else Match(0, 3, 0.1, 0.2, False) for m in _matches(0.12)]
    result = near_copy_gate(matches, NEAR, PHOTO_IDS)
    assert result.status == FAILED
    assert result.figure.startswith("2 of 3 samples below ratio 0.45")
    assert "(sample 1 ~ photo synthetic-0002)" in result.figure


def test_near_copy_gate_fails_when_nothing_was_compared():
    result = near_copy_gate([], NEAR, PHOTO_IDS)
    assert result.status == FAILED
    assert "no samples were compared" in result.figure


def test_near_copy_gate_fails_on_nan_ratios():
    matches = [Match(i, i, math.nan, math.nan, False) for i in range(3)]
    assert near_copy_gate(matches, NEAR, PHOTO_IDS).status == FAILED


# --- config ----------------------------------------------------------------------------------


def _load(*overrides):
    return load_promote_config(None, dict(parse_override(o) for o in overrides))


def test_default_promote_config_loads_with_its_documented_thresholds():
    cfg = _load()
    assert cfg.registry.alias == "champion"
    assert cfg.quality == QualityConfig(max_swd=150.0, min_id_compliance=0.7, beat_current=True)
    assert cfg.near_copy.max_ratio == 0.45
    assert cfg.near_copy.neighbours == 5


def test_the_default_promote_config_does_not_depend_on_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_promote_config() == load_promote_config(config_dir() / "promote" / "default.yaml")


def test_in_range_overrides_are_applied():
    cfg = _load("near_copy.max_ratio=0.3", "near_copy.samples=16", "quality.beat_current=false")
    assert cfg.near_copy.max_ratio == 0.3
    assert cfg.near_copy.samples == 16
    assert cfg.quality.beat_current is False


@pytest.mark.parametrize(
    "override, key",
    [
        ("near_copy.max_ratio=1.5", "near_copy.max_ratio"),
        ("near_copy.max_ratio=1.0", "near_copy.max_ratio"),
        ("near_copy.max_ratio=0", "near_copy.max_ratio"),
        ("near_copy.samples=0", "near_copy.samples"),
        ("near_copy.neighbours=-1", "near_copy.neighbours"),
        ("near_copy.chunk=0", "near_copy.chunk"),
        ("near_copy.samples=many", "near_copy.samples"),
        ("quality.beat_current=maybe", "quality.beat_current"),
        ("near_copy.neighbors=5", "near_copy.neighbors"),
        ("qualty.max_swd=0.1", "qualty"),
    ],
)
def test_bad_overrides_raise_config_error_naming_the_key(override, key):
    with pytest.raises(ConfigError, match=f"'{key}'"):
        _load(override)


def test_unknown_key_is_rejected_as_unknown():
    with pytest.raises(ConfigError, match=r"unknown key 'near_copy\.max_distance'"):
        _load("near_copy.max_distance=0.4")
