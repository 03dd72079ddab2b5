"""Which model versions may hold an alias, read from the tags promotion wrote."""

import pytest

from idphoto.registry.audit import passing_uses, problem_of

LINEAGE = {"idphoto.lineage.content_sha256": "ab" * 32}


def _promoted(use="commercial", alias="champion", quality="passed", **gates):
    tags = {
        f"idphoto.gate.{use}.quality": quality,
        f"idphoto.gate.{use}.licence": gates.get("licence", "passed"),
        f"idphoto.gate.{use}.near_copy": gates.get("near_copy", "passed"),
        f"idphoto.gate.{use}.alias": alias,
    }
    return {**tags, **LINEAGE}


def test_a_version_promoted_to_the_alias_holds_it():
    assert passing_uses(_promoted(), "champion") == ("commercial",)
    assert problem_of(_promoted(), "champion") == ""


def test_a_forced_quality_gate_counts_but_no_other_gate_can_be_forced():
    assert passing_uses(_promoted(quality="forced"), "champion") == ("commercial",)
    assert passing_uses(_promoted(licence="forced"), "champion") == ()


@pytest.mark.parametrize(
    "tags",
    [
        {},  # registered by hand: no gate ever ran
        _promoted(alias="champion-research"),  # promoted to another alias
        _promoted(near_copy="failed"),  # a refused attempt recorded on an older version
        _promoted(licence="failed"),
    ],
)
def test_a_version_without_a_passing_record_for_the_alias_may_not_hold_it(tags):
    assert "no passing gate record" in problem_of(tags, "champion")


def test_the_lineage_summary_must_be_recorded_too():
    tags = {k: v for k, v in _promoted().items() if k not in LINEAGE}
    assert "no lineage summary" in problem_of(tags, "champion")
