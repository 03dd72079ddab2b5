"""End-to-end runs of the ingest job on the embedded sample data and a corpus of bad input."""

import collections
import io
import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from PIL import Image

from idphoto.data import progress
from idphoto.data.dataset import open_ingested
from idphoto.errors import UserError
from pipelines import ingest

pytestmark = pytest.mark.slow
IN_MEMORY = ["--runner=DirectRunner", "--direct_running_mode=in_memory"]


@pytest.fixture(scope="module")
def sample(sample_manifest):
    return sample_manifest


@pytest.fixture(scope="module")
def research(sample, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("out") / "research")
    report = ingest.run(["--manifest", sample, "--out", out, "--use", "research"])  # default runner
    return out, report


@pytest.fixture(scope="module")
def commercial(sample, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("out") / "commercial")
    report = ingest.run(["--manifest", sample, "--out", out, "--use", "commercial", *IN_MEMORY])
    return out, report


def _lineage(out):
    return pq.read_table(os.path.join(out, "lineage.parquet")).to_pylist()


def _manifest_ids(manifest):
    with open(manifest, encoding="utf-8") as handle:
        return sorted(line.split(",", 1)[0] for line in handle.readlines()[1:])


def test_every_manifest_row_has_exactly_one_lineage_row(sample, research):
    out, report = research
    rows = _lineage(out)
    assert sorted(r["id"] for r in rows) == _manifest_ids(sample)
    assert report["rows_in"] == report["rows_out"] == len(rows)
    assert sum(report["by_decision"].values()) == len(rows)


def test_tfds_loads_the_accepted_photos_with_their_licences(research):
    import tensorflow_datasets as tfds

    out, report = research
    accepted = {r["id"]: r for r in _lineage(out) if r["decision"] == "accepted"}
    builder = tfds.builder_from_directory(out)
    examples = list(tfds.as_numpy(builder.as_dataset(split="train")))
    for split in report["splits"]:
        if split != "train":
            examples += list(tfds.as_numpy(builder.as_dataset(split=split)))
    assert sorted(e["id"].decode() for e in examples) == sorted(accepted)
    for example in examples:
        row = accepted[example["id"].decode()]
        assert example["image"].shape == (128, 128, 3)
        assert example["licence_spdx"].decode() == row["spdx"]
        assert example["sha256"].decode() == row["sha256"]
        assert example["landmarks"].shape == (5, 2)


def test_content_digest_is_the_digest_of_the_written_records_and_no_helper_file_remains(
    research, commercial
):
    import glob

    import tensorflow as tf

    from idphoto.data.digest import dataset_digest, record_digest

    out, report = research
    digests = report["content_sha256"]
    for split in report["splits"]:
        shards = sorted(glob.glob(os.path.join(out, f"idphoto-{split}.tfrecord-*")))
        records = [r.numpy() for r in tf.data.TFRecordDataset(shards)]
        assert len(records) == report["splits"][split]
        assert digests[split] == record_digest(records)
    assert digests["all"] == dataset_digest({s: digests[s] for s in report["splits"]})
    assert commercial[1]["content_sha256"]["all"] != digests["all"]
    assert not glob.glob(os.path.join(out, "_digest*"))


def test_research_dataset_keeps_nc_but_rejects_nd_arr_unknown_and_refused_consent(research):
    out, _ = research
    by_id = {r["id"]: r for r in _lineage(out)}
    classes = {r["class"] for r in by_id.values() if r["decision"] == "accepted"}
    assert "cc-by-nc" in classes
    reasons = {r["reason"] for r in by_id.values()}
    assert {
        "no_derivatives",
        "all_rights_reserved",
        "empty_licence",
        "unknown_licence",
        "consent_refused",
    } <= reasons


def test_commercial_dataset_holds_no_nc_nd_or_unknown_row(commercial):
    out, report = commercial
    accepted = [r for r in _lineage(out) if r["decision"] == "accepted"]
    assert accepted
    assert not [
        r
        for r in accepted
        if r["class"]
        not in ("public-domain", "cc-by", "cc-by-sa", "us-government-work", "no-known-restrictions")
    ]
    assert not [r for r in accepted if "non-commercial" in r["obligations"]]
    assert report["by_reason"].get("non_commercial", 0) >= 1
    assert report["by_reason"].get("consent_missing", 0) >= 1


def test_duplicates_are_rejected_and_point_at_their_original(research):
    out, _ = research
    by_id = {r["id"]: r for r in _lineage(out)}
    assert (
        by_id["synthetic-zz-exact-copy"]["reason"],
        by_id["synthetic-zz-exact-copy"]["duplicate_of"],
    ) == ("duplicate", "synthetic-0000")
    assert (
        by_id["synthetic-zz-reencoded"]["reason"],
        by_id["synthetic-zz-reencoded"]["duplicate_of"],
    ) == ("near_duplicate", "synthetic-0000")


def test_real_portraits_are_found_by_the_detector(research):
    out, _ = research
    by_id = {r["id"]: r for r in _lineage(out)}
    for photo in ("astronaut-eileen-collins", "grace-hopper"):
        assert by_id[photo]["decision"] == "accepted", by_id[photo]
        assert by_id[photo]["landmarks_source"] == "detector"


def test_attribution_lists_every_accepted_photo_that_requires_it(research):
    out, _ = research
    with open(os.path.join(out, "ATTRIBUTION.md"), encoding="utf-8") as handle:
        text = handle.read()
    needs = [
        r
        for r in _lineage(out)
        if r["decision"] == "accepted" and "attribution" in r["obligations"]
    ]
    assert needs
    for row in needs:
        assert f"(id {row['id']})" in text
    assert "CC-BY-2.0" in text


def test_report_counts_are_those_of_the_lineage_rows(research):
    out, report = research
    with open(os.path.join(out, "ingest_report.json"), encoding="utf-8") as handle:
        saved = json.load(handle)
    rows = _lineage(out)
    for counts in (saved, report):
        assert counts["by_decision"] == collections.Counter(r["decision"] for r in rows)
        assert counts["by_reason"] == collections.Counter(r["reason"] for r in rows)
        assert counts["by_class"] == collections.Counter(r["class"] or "none" for r in rows)
    assert saved["runner"] and saved["elapsed_seconds"] > 0
    assert saved["made_with"]["use"] == "research"


def test_existing_output_is_not_overwritten_without_the_flag(sample, research):
    out, _ = research
    with pytest.raises(UserError, match="--overwrite"):
        ingest.run(["--manifest", sample, "--out", out])


def test_malformed_manifest_stops_before_any_output(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"id": "a", "path": "a.png", "licence": "CC0"}\n{"id": "b", \n')
    with pytest.raises(UserError, match="line 2"):
        ingest.run(["--manifest", str(manifest), "--out", str(tmp_path / "out")])
    assert not any(p.name.startswith("out") for p in tmp_path.iterdir())


def _encode(image, fmt="PNG", **kwargs):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def test_bad_input_corpus_becomes_rejected_rows_and_the_job_finishes(tmp_path, sample):
    root = tmp_path / "corpus"
    root.mkdir()
    good = Image.open(
        os.path.join(os.path.dirname(sample), "images", "synthetic-0000.png")
    ).convert("RGB")
    marks = json.loads(
        next(r for r in _csv_rows(sample) if r["id"] == "synthetic-0000")["landmarks"]
    )
    jpeg = _encode(good, "JPEG")
    files = {
        "good.png": _encode(good),
        "zero.jpg": b"",
        "truncated.jpg": jpeg[: len(jpeg) // 3],
        "text.jpg": b"Dear photographer,\nthis is a letter, not a photo.\n",
        "bomb.png": _encode(Image.new("1", (30000, 30000))),
        "tiny.png": _encode(Image.new("RGB", (16, 16))),
        "blank.png": _encode(Image.new("RGB", (256, 256), (90, 120, 200))),
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    (tmp_path / "outside.png").write_bytes(files["good.png"])
    os.symlink(tmp_path / "outside.png", root / "link.png")
    rows = [
        ("good", "good.png", "CC0-1.0", marks, "ok"),
        ("missing", "nothere.png", "CC0-1.0", marks, "missing_file"),
        ("zero", "zero.jpg", "CC0-1.0", marks, "empty_file"),
        ("truncated", "truncated.jpg", "CC0-1.0", marks, "truncated_image"),
        ("text", "text.jpg", "CC0-1.0", marks, "not_an_image"),
        ("bomb", "bomb.png", "CC0-1.0", marks, "decompression_bomb"),
        ("tiny", "tiny.png", "CC0-1.0", marks, "too_small"),
        ("dotdot", "../outside.png", "CC0-1.0", marks, "path_traversal"),
        ("absolute", str(tmp_path / "outside.png"), "CC0-1.0", marks, "path_outside_root"),
        ("symlink", "link.png", "CC0-1.0", marks, "path_outside_root"),
        ("good", "good.png", "CC0-1.0", marks, "duplicate_id"),
        ("nolicence", "good.png", "", marks, "empty_licence"),
        ("badmarks", "good.png", "CC0-1.0", "[[1, 2], [3]]", "bad_landmarks"),
        ("faceless", "blank.png", "CC0-1.0", "", "no_face"),
    ]
    manifest = root / "manifest.jsonl"
    with open(manifest, "w") as handle:
        for id_, path, licence, landmarks, _ in rows:
            handle.write(
                json.dumps(
                    {
                        "id": id_,
                        "path": path,
                        "licence": licence,
                        "consent": True,
                        "landmarks": landmarks,
                    }
                )
                + "\n"
            )
    out = tmp_path / "out"
    report = ingest.run(["--manifest", str(manifest), "--out", str(out), *IN_MEMORY])
    got = sorted((r["id"], r["reason"]) for r in _lineage(str(out)))
    assert got == sorted((id_, reason) for id_, _, _, _, reason in rows)
    assert report["rows_out"] == len(rows)


def _csv_rows(manifest):
    import csv

    with open(manifest, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_job_runs_on_the_portable_runner(tmp_path, sample):
    rows = [r for r in _csv_rows(sample) if r["landmarks"]][:4]
    manifest = os.path.join(os.path.dirname(sample), "portable.jsonl")
    with open(manifest, "w") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    out = tmp_path / "portable"
    report = ingest.run(
        [
            "--manifest",
            manifest,
            "--out",
            str(out),
            "--runner=PortableRunner",
            "--job_endpoint=embed",
            "--environment_type=LOOPBACK",
        ]
    )
    assert report["rows_out"] == 4 and report["runner"] == "PortableRunner"
    assert sum(report["by_decision"].values()) == 4


def test_cli_prints_a_summary_and_fails_in_one_line_on_a_missing_manifest(tmp_path, sample):
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "idphoto",
            "ingest",
            "--manifest",
            str(tmp_path / "nope.csv"),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "cannot open manifest" in bad.stderr


def test_a_manifest_with_every_photo_rejected_finishes_with_its_lineage(tmp_path, sample):
    rows = _csv_rows(sample)[:3]
    manifest = os.path.join(os.path.dirname(sample), "all-rejected.jsonl")
    with open(manifest, "w") as handle:
        for row in rows:
            handle.write(json.dumps({**row, "licence": "All rights reserved"}) + "\n")
    out = tmp_path / "rejected"
    run = subprocess.run(
        [sys.executable, "-m", "idphoto", "ingest", "--manifest", manifest, "--out", str(out)]
        + IN_MEMORY,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "no photo was accepted" in run.stderr
    lineage = _lineage(str(out))
    assert sorted(r["id"] for r in lineage) == sorted(r["id"] for r in rows)
    assert {(r["decision"], r["reason"]) for r in lineage} == {("rejected", "all_rights_reserved")}
    assert not list(out.glob("*.tfrecord*")) and not (out / "dataset_info.json").exists()
    report = json.loads((out / "ingest_report.json").read_text())
    assert report["splits"] == {} and report["rows_out"] == 3
    with pytest.raises(UserError, match="holds no training examples"):
        open_ingested(str(out))


_START_UP_NOISE = (
    "absl::InitializeLog", "oneDNN", "cuda drivers", "cuInit", "cpu_feature_guard",
    "apitools not found", "semi_persistent_directory", "Discarding unparseable args",
)  # fmt: skip


def test_the_cli_on_local_workers_prints_no_start_up_noise_and_no_progress_markers(
    tmp_path, sample
):
    """Beam's worker processes inherit the launcher's stderr; their TensorFlow and Beam start-up
    lines are filtered there, and their progress markers feed the bar, never the terminal."""
    out = tmp_path / "quiet"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "idphoto",
            "ingest",
            "--manifest",
            sample,
            "--out",
            str(out),
            "--direct_num_workers=2",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "manifest rows ->" in run.stdout
    for noise in (*_START_UP_NOISE, progress.MARKER.decode()):
        assert noise not in run.stderr, run.stderr[-2000:]


def test_examples_lost_between_lineage_and_shards_fail_the_job_and_publish_nothing(
    tmp_path, sample, monkeypatch
):
    serialize = ingest._SerializeFn.process

    def lose_one(self, record):
        if record["id"] != "synthetic-0000":  # an accepted photo whose example goes missing
            yield from serialize(self, record)

    monkeypatch.setattr(ingest._SerializeFn, "process", lose_one)
    out = tmp_path / "lossy"
    with pytest.raises(UserError, match="records were lost; nothing was published"):
        ingest.run(["--manifest", sample, "--out", str(out), *IN_MEMORY])
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("lossy")]  # no staging left


def test_two_ingests_of_the_same_manifest_have_the_same_content_digest(tmp_path, sample):
    digests = []
    for name, shards in (("a", "0"), ("b", "3")):  # and a different sharding
        report = ingest.run(
            ["--manifest", sample, "--out", str(tmp_path / name), *IN_MEMORY,
             "--set", f"output.num_shards={shards}"]
        )  # fmt: skip
        digests.append(report["content_sha256"])
    assert digests[0] == digests[1]


def test_an_opt_out_list_rejects_rows_by_id_source_url_and_sha256_end_to_end(
    tmp_path, sample, research
):
    out_research, _ = research
    accepted = sorted(r["id"] for r in _lineage(out_research) if r["decision"] == "accepted")
    rows = {r["id"]: r for r in _csv_rows(sample)}
    by_id, by_url, by_sha = [i for i in accepted if rows[i]["source_url"]][:3]
    before = {r["id"]: r for r in _lineage(out_research)}
    url, sha = rows[by_url]["source_url"], before[by_sha]["sha256"]
    opt_out = tmp_path / "opt-out.txt"
    opt_out.write_text(f"{by_id}\n{url}\n{sha}\n")
    out = tmp_path / "opted"
    report = ingest.run(
        ["--manifest", sample, "--out", str(out), "--use", "research", "--exclude", str(opt_out)]
        + IN_MEMORY
    )
    # Every row the list names: an id or URL before its licence is judged, a sha256 once the
    # photo is read, so an exact copy of an opted-out file is opted out with it.
    named = {by_id} | {i for i in rows if rows[i]["source_url"] == url}
    named |= {i for i, r in before.items() if r["sha256"] == sha}
    assert len(named) >= 3
    lineage = {r["id"]: r for r in _lineage(str(out))}
    assert {i for i, r in lineage.items() if r["reason"] == "opted_out"} == named
    assert all(lineage[i]["decision"] == "rejected" for i in named)
    kept = [i for i in accepted if i not in named]
    assert all(lineage[i]["decision"] == "accepted" for i in kept)  # nobody else is touched
    assert report["by_reason"]["opted_out"] == len(named)
    # The job writes no CSV: formula text in a manifest never reaches a spreadsheet file.
    assert not [p for p in out.rglob("*") if p.suffix.lower() in (".csv", ".tsv")]
