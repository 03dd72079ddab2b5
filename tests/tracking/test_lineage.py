"""A run's licence lineage judged by the real policy: violations per use, the summary, its tags."""

import json

import pytest

from idphoto.config import config_dir
from idphoto.data.lineage import ACCEPTED, COLUMNS, REJECTED, lineage_row
from idphoto.licences import load_policy
from idphoto.tracking.lineage import (
    Violation,
    summarise,
    summary_from_tags,
    summary_tags,
    violations,
)
from idphoto.tracking.tags import LINEAGE_PREFIX

USE = "research"
CONTENT = "ab12" * 16
USES = ("research", "commercial")


@pytest.fixture(scope="module")
def policy():
    return load_policy()


def _row(
    index,
    licence,
    licence_class,
    obligations=(),
    consent=True,
    decision=ACCEPTED,
    reason="ok",
):
    """A lineage row as ingest writes it (every SCHEMA column), for a photo judged earlier."""
    record = {
        "id": f"synthetic-{index:04d}",
        "line": index + 2,
        "path": f"images/synthetic-{index:04d}.png",
        "licence": licence,
        "class": licence_class,
        "obligations": list(obligations),
        "sha256": f"{index:064x}",
        "author": f"Synthetic Studio {index % 7}",
        "consent_value": consent,
        "split": "train",
    }
    return lineage_row(record, decision, reason)


def _cc0(index, consent=True):
    return _row(index, "CC0-1.0", "public-domain", consent=consent)


def _cc_by(index, consent=True):
    url = "https://creativecommons.org/licenses/by/4.0/"
    return _row(index, url, "cc-by", ["attribution"], consent=consent)


def _cc_by_nc(index, consent=True):
    return _row(index, "CC BY-NC 2.0", "cc-by-nc", ["attribution", "non-commercial"], consent)


def _cc_by_nd_rejected(index):
    return _row(index, "CC BY-ND 4.0", "cc-by-nd", decision=REJECTED, reason="no_derivatives")


def test_rows_have_every_lineage_column():
    assert tuple(_cc0(0)) == COLUMNS


# --- violations ------------------------------------------------------------------------------


def test_one_nc_photo_blocks_commercial_use(policy):
    rows = [_cc0(0), _cc_by(1), _cc_by_nc(2), _cc0(3)]
    assert violations(rows, policy, "commercial") == [
        Violation("synthetic-0002", "CC BY-NC 2.0", "cc-by-nc", "non_commercial")
    ]


def test_nc_photo_is_allowed_for_research(policy):
    assert violations([_cc0(0), _cc_by_nc(1)], policy, "research") == []


def test_rejected_rows_are_ignored(policy):
    rows = [
        _cc0(0),
        _row(1, "CC BY-NC 2.0", "cc-by-nc", decision=REJECTED, reason="non_commercial"),
        _cc_by_nd_rejected(2),
        _row(3, "All Rights Reserved", "all-rights-reserved", decision=REJECTED, reason="x"),
    ]
    assert violations(rows, policy, "commercial") == []
    assert violations(rows, policy, "research") == []


def test_missing_consent_blocks_only_the_uses_that_require_it(policy):
    assert policy.consent.required_for == ("commercial",)  # configs/licence_policy.yaml
    rows = [_cc_by(0, consent=None), _cc0(1)]
    assert violations(rows, policy, "commercial") == [
        Violation(
            "synthetic-0000",
            "https://creativecommons.org/licenses/by/4.0/",
            "cc-by",
            "consent_missing",
        )
    ]
    assert violations(rows, policy, "research") == []


def test_refused_consent_blocks_every_use(policy):
    rows = [_cc0(0, consent=False)]
    for use in policy.uses:
        assert [v.reason for v in violations(rows, policy, use)] == ["consent_refused"]


def test_the_licence_reason_wins_over_missing_consent(policy):
    (found,) = violations([_cc_by_nc(5, consent=None)], policy, "commercial")
    assert found.reason == "non_commercial"


def test_rows_are_judged_afresh_not_by_their_stored_class(policy):
    # Ingested under a policy that called this photo public-domain; today's policy does not.
    row = _row(0, "CC BY-NC 2.0", "public-domain")
    assert violations([row], policy, "commercial") == [
        Violation("synthetic-0000", "CC BY-NC 2.0", "cc-by-nc", "non_commercial")
    ]


def test_an_accepted_row_without_licence_is_an_empty_licence_violation(policy):
    row = {**_cc0(0), "licence": None}
    assert violations([row], policy, "research") == [
        Violation("synthetic-0000", "", "empty", "empty_licence")
    ]


def test_violations_keep_row_order(policy):
    rows = [_cc_by_nc(4), _cc0(1), _cc_by(2, consent=None), _cc_by_nc(0)]
    found = violations(rows, policy, "commercial")
    assert [v.id for v in found] == ["synthetic-0004", "synthetic-0002", "synthetic-0000"]


# --- summarise -------------------------------------------------------------------------------


def test_clean_set_is_allowed_for_every_use(policy):
    rows = [_cc0(0), _cc0(1), _cc_by(2), _cc_by_nd_rejected(3)]
    summary = summarise(rows, policy, USE, CONTENT)
    assert summary.rows == 4
    assert summary.accepted == 3
    assert dict(summary.by_class) == {"cc-by": 1, "public-domain": 2}
    assert summary.obligations == ("attribution",)
    assert summary.allowed_uses == ("research", "commercial")


def test_one_nc_photo_leaves_only_research_allowed(policy):
    share_alike = _row(4, "CC BY-NC-SA 2.0", "cc-by-nc-sa", ["attribution", "share-alike"])
    rows = [_cc0(0), _cc_by(1), _cc_by_nc(2), share_alike, _cc_by_nd_rejected(5)]
    summary = summarise(rows, policy, USE, CONTENT)
    assert summary.accepted == 4
    assert dict(summary.by_class) == {
        "cc-by": 1,
        "cc-by-nc": 1,
        "cc-by-nc-sa": 1,
        "public-domain": 1,
    }
    assert summary.obligations == ("attribution", "non-commercial", "share-alike")
    assert summary.allowed_uses == ("research",)


def test_missing_consent_leaves_only_research_allowed(policy):
    summary = summarise([_cc0(0), _cc_by(1, consent=None)], policy, USE, CONTENT)
    assert summary.allowed_uses == ("research",)


def test_obligations_of_rejected_rows_are_not_counted(policy):
    share_alike = ["attribution", "share-alike"]
    rejected = _row(1, "CC BY-SA 4.0", "cc-by-sa", share_alike, decision=REJECTED)
    summary = summarise([_cc0(0), rejected], policy, USE, CONTENT)
    assert summary.obligations == ()
    assert dict(summary.by_class) == {"public-domain": 1}


def test_summary_records_the_digest_of_the_policy_it_judged_with(policy, tmp_path):
    summary = summarise([_cc0(0)], policy, USE, CONTENT)
    assert (summary.ingest_use, summary.content_sha256) == (USE, CONTENT)
    assert summary.policy_sha256 == policy.digest
    stricter = tmp_path / "stricter.yaml"
    text = (config_dir() / "licence_policy.yaml").read_text()
    stricter.write_text(text.replace("allow: [research, commercial]", "allow: [research]"))
    other = load_policy(stricter)
    judged = summarise([_cc0(0)], other, USE, CONTENT)
    assert judged.policy_sha256 == other.digest != policy.digest
    assert judged.allowed_uses == ("research",) and summary.allowed_uses == USES


# --- tags ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nc_summary(policy):
    rows = [_cc0(0), _cc0(1), _cc_by(2), _cc_by_nc(3), _cc_by_nd_rejected(4)]
    return summarise(rows, policy, USE, CONTENT)


def test_summary_tags_are_prefixed_strings(nc_summary):
    tags = summary_tags(nc_summary)
    assert tags
    assert all(key.startswith("idphoto.lineage.") for key in tags)
    assert all(isinstance(value, str) for value in tags.values())


def test_summary_tags_carry_the_summary(nc_summary):
    tags = summary_tags(nc_summary)
    assert tags["idphoto.lineage.rows"] == "5"
    assert tags["idphoto.lineage.accepted"] == "4"
    assert tags["idphoto.lineage.obligations"] == "attribution,non-commercial"
    assert tags["idphoto.lineage.allowed_uses"] == "research"
    assert tags["idphoto.lineage.ingest_use"] == "research"
    assert tags["idphoto.lineage.policy_sha256"] == load_policy().digest
    assert tags["idphoto.lineage.content_sha256"] == CONTENT
    by_class = {"cc-by": 1, "cc-by-nc": 1, "public-domain": 2}
    assert json.loads(tags["idphoto.lineage.by_class"]) == by_class


def test_summary_tags_count_each_accepted_class(nc_summary):
    classes = {
        key: value
        for key, value in summary_tags(nc_summary).items()
        if key.startswith("idphoto.lineage.class.")
    }
    assert classes == {
        "idphoto.lineage.class.cc-by": "1",
        "idphoto.lineage.class.cc-by-nc": "1",
        "idphoto.lineage.class.public-domain": "2",
    }


def test_empty_lists_are_tagged_none(policy):
    summary = summarise([_cc0(0, consent=False)], policy, USE, CONTENT)
    tags = summary_tags(summary)
    assert tags["idphoto.lineage.obligations"] == "none"
    assert tags["idphoto.lineage.allowed_uses"] == "none"


def test_summary_from_tags_strips_the_prefix_and_ignores_other_tags(nc_summary):
    tags = summary_tags(nc_summary)
    mixed = {
        **tags,
        "mlflow.runName": "dcgan64-bs256-lr2e-4",
        "idphoto.data": "/data/ingested/research",
        "idphoto.lineage": "no trailing dot",
        "idphoto.gate.commercial.licence": "failed",
    }
    unprefixed = summary_from_tags(mixed)
    assert unprefixed == {key[len(LINEAGE_PREFIX) :]: value for key, value in tags.items()}
    assert unprefixed["class.public-domain"] == "2"
    assert unprefixed["allowed_uses"] == "research"
    assert list(unprefixed) == sorted(unprefixed)
