"""Unit tests of the ingest job's transforms with Beam's TestPipeline."""

import io
import json

import apache_beam as beam
import numpy as np
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from PIL import Image

from idphoto.data.ingest_config import load_ingest_config
from idphoto.data.transforms import (
    REJECTED,
    Deduplicate,
    JudgeLicenceFn,
    PreparePhotoFn,
    RejectDuplicateIds,
    holdout_split,
)
from idphoto.licences import load_policy

LANDMARKS = [[100.0, 110.0], [156.0, 110.0], [128.0, 140.0], [106.0, 170.0], [150.0, 170.0]]


def _row(id_, line, licence="CC0-1.0", **extra):
    return {
        "id": id_,
        "line": line,
        "path": f"{id_}.png",
        "licence": licence,
        "author": "",
        "source_url": "",
        "title": "",
        "consent": "true",
        "landmarks": None,
        **extra,
    }


def _pairs(rows):
    return sorted((r["id"], r["reason"]) for r in rows)


def test_duplicate_ids_keep_the_first_line_and_reject_the_others():
    with TestPipeline() as p:
        result = p | beam.Create([_row("a", 3), _row("a", 1), _row("b", 2)]) | RejectDuplicateIds()
        assert_that(
            result.unique | "Lines" >> beam.Map(lambda r: (r["id"], r["line"])),
            equal_to([("a", 1), ("b", 2)]),
        )
        assert_that(
            result[REJECTED]
            | "Rej" >> beam.Map(lambda r: (r["id"], r["line"], r["reason"], r["duplicate_of"])),
            equal_to([("a", 3, "duplicate_id", "a")]),
            label="rejected",
        )


def test_licence_judge_splits_allowed_from_rejected_with_reasons():
    policy = load_policy()
    rows = [
        _row("cc0", 1, "CC0-1.0"),
        _row("nc", 2, "CC BY-NC 4.0"),
        _row("nd", 3, "CC BY-ND 4.0"),
        _row("nocons", 4, "CC0-1.0", consent=""),
        _row("refused", 5, "CC0-1.0", consent="false"),
        _row("weird", 6, "CC0-1.0", consent="perhaps"),
        _row("optout", 7, "CC0-1.0"),
    ]
    with TestPipeline() as p:
        judged = (
            p
            | beam.Create(rows)
            | beam.ParDo(JudgeLicenceFn(policy, "commercial", frozenset({"optout"}))).with_outputs(
                REJECTED, main="allowed"
            )
        )
        assert_that(
            judged.allowed | "Ids" >> beam.Map(lambda r: (r["id"], r["class"])),
            equal_to([("cc0", "public-domain")]),
        )
        assert_that(
            judged[REJECTED] | "Reasons" >> beam.Map(lambda r: (r["id"], r["reason"])),
            equal_to(
                [
                    ("nc", "non_commercial"),
                    ("nd", "no_derivatives"),
                    ("nocons", "consent_missing"),
                    ("refused", "consent_refused"),
                    ("weird", "bad_consent"),
                    ("optout", "opted_out"),
                ]
            ),
            label="rejected",
        )


def _png(image):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG")
    return buffer.getvalue()


def test_prepare_photo_aligns_given_landmarks_and_rejects_bad_files(tmp_path):
    face = np.full((256, 256, 3), 180, np.uint8)
    (tmp_path / "good.png").write_bytes(_png(face))
    (tmp_path / "text.png").write_bytes(b"not an image at all")
    rows = [
        _row("good", 1, landmarks=json.dumps(LANDMARKS), path="good.png"),
        _row("text", 2, landmarks=json.dumps(LANDMARKS), path="text.png"),
        _row("missing", 3, landmarks=json.dumps(LANDMARKS), path="missing.png"),
        _row("escape", 4, landmarks=json.dumps(LANDMARKS), path="../good.png"),
        _row("badmarks", 5, landmarks="[1, 2, 3]", path="good.png"),
    ]
    cfg = load_ingest_config(overrides={"align.resolution": 64})
    with TestPipeline() as p:
        out = (
            p
            | beam.Create(rows)
            | beam.ParDo(PreparePhotoFn(str(tmp_path), cfg, frozenset())).with_outputs(
                REJECTED, main="ok"
            )
        )
        assert_that(
            out.ok
            | "Shape"
            >> beam.Map(
                lambda r: (
                    r["id"],
                    Image.open(io.BytesIO(r["image_bytes"])).size,
                    r["landmarks_source"],
                )
            ),
            equal_to([("good", (64, 64), "manifest")]),
        )
        assert_that(
            out[REJECTED] | "Reasons" >> beam.Map(lambda r: (r["id"], r["reason"])),
            equal_to(
                [
                    ("text", "not_an_image"),
                    ("missing", "missing_file"),
                    ("escape", "path_traversal"),
                    ("badmarks", "bad_landmarks"),
                ]
            ),
            label="rejected",
        )


def _record(id_, pixels, phash):
    return {**_row(id_, 0), "pixel_sha256": pixels, "phash": phash}


def test_exact_and_near_duplicates_point_at_the_smallest_id():
    records = [
        _record("b", "p1", 0b1111),
        _record("a", "p1", 0b1111),  # same pixels as b
        _record("c", "p2", 0b1110),  # 1 bit from a: near duplicate
        _record("d", "p3", (1 << 64) - 1),  # far from everything
    ]
    with TestPipeline() as p:
        out = p | beam.Create(records) | Deduplicate(hash_bits=64, max_distance=6)
        assert_that(out["kept"] | "Kept" >> beam.Map(lambda r: r["id"]), equal_to(["a", "d"]))
        assert_that(
            out[REJECTED] | "Rej" >> beam.Map(lambda r: (r["id"], r["reason"], r["duplicate_of"])),
            equal_to([("b", "duplicate", "a"), ("c", "near_duplicate", "a")]),
            label="rejected",
        )


def test_holdout_split_is_stable_and_near_the_configured_share():
    splits = [holdout_split(f"photo-{i}", "salt", 10) for i in range(5000)]
    assert splits == [holdout_split(f"photo-{i}", "salt", 10) for i in range(5000)]
    assert 0.08 < splits.count("test") / len(splits) < 0.12
    assert holdout_split("x", "salt", 0) == "train" and holdout_split("x", "salt", 100) == "test"


class _BrokenDetector:
    def detect(self, image):
        raise RuntimeError("detector exploded")


class _PrepareWithBrokenDetector(PreparePhotoFn):
    def setup(self):
        self._detector = _BrokenDetector()


def test_an_unexpected_failure_rejects_the_photo_instead_of_stopping_the_job(tmp_path):
    (tmp_path / "a.png").write_bytes(_png(np.full((128, 128, 3), 99, np.uint8)))
    cfg = load_ingest_config()
    with TestPipeline() as p:
        out = (
            p
            | beam.Create([_row("a", 1, path="a.png")])
            | beam.ParDo(_PrepareWithBrokenDetector(str(tmp_path), cfg, frozenset())).with_outputs(
                REJECTED, main="ok"
            )
        )
        assert_that(out.ok, equal_to([]))
        assert_that(
            out[REJECTED] | beam.Map(lambda r: (r["id"], r["reason"], r["detail"])),
            equal_to([("a", "processing_error", "RuntimeError: detector exploded")]),
            label="rejected",
        )


def test_opt_out_by_sha256_rejects_the_photo_after_reading_it(tmp_path):
    import hashlib

    data = _png(np.full((128, 128, 3), 50, np.uint8))
    (tmp_path / "a.png").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    cfg = load_ingest_config()
    with TestPipeline() as p:
        out = (
            p
            | beam.Create([_row("a", 1, path="a.png", landmarks=json.dumps(LANDMARKS))])
            | beam.ParDo(PreparePhotoFn(str(tmp_path), cfg, frozenset({digest}))).with_outputs(
                REJECTED, main="ok"
            )
        )
        assert_that(out.ok, equal_to([]))
        assert_that(
            out[REJECTED] | beam.Map(lambda r: (r["id"], r["reason"], r["sha256"])),
            equal_to([("a", "opted_out", digest)]),
            label="rejected",
        )


def test_opt_out_by_source_url_rejects_before_reading():
    row = _row("x", 1, source_url="https://flickr.com/photos/1")
    with TestPipeline() as p:
        out = (
            p
            | beam.Create([row])
            | beam.ParDo(
                JudgeLicenceFn(
                    load_policy(), "research", frozenset({"https://flickr.com/photos/1"})
                )
            ).with_outputs(REJECTED, main="allowed")
        )
        assert_that(out.allowed, equal_to([]))
        assert_that(
            out[REJECTED] | beam.Map(lambda r: r["reason"]), equal_to(["opted_out"]), label="rej"
        )
