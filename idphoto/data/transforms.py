"""The Beam transforms of the ingest job.

Records are plain dicts: a manifest row, enriched step by step. A step that rejects a photo
emits its lineage row on the `rejected` output, so every manifest row ends as exactly one
lineage row (rows in = rows out). Counters in the `idphoto` namespace feed the ingest report.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging

import apache_beam as beam
import numpy as np
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from idphoto.data import lineage, progress
from idphoto.data.dataset import HELD_OUT_SPLIT, TRAIN_SPLIT
from idphoto.data.dedup import band_keys, hamming_distance
from idphoto.data.ingest_config import IngestConfig
from idphoto.data.manifest import parse_consent, read_manifest
from idphoto.data.photo import Deadline, prepare_photo, read_source
from idphoto.errors import PhotoRejected
from idphoto.faces.detect import FaceDetector
from idphoto.licences import Policy

REJECTED = "rejected"
METRICS_NAMESPACE = "idphoto"
_LOG = logging.getLogger(__name__)


class ReadManifest(beam.PTransform):
    """Reads a manifest's rows and spreads them over the workers."""

    def __init__(self, manifest_path: str):
        super().__init__()
        self._path = manifest_path

    def expand(self, pbegin):
        return (
            pbegin
            | "ManifestPath" >> beam.Create([self._path])
            | "ReadRows" >> beam.FlatMap(read_manifest)
            # Reading is one sequential pass; reshuffling lets every worker process photos.
            | "SpreadRows" >> beam.Reshuffle()
        )


class RejectDuplicateIds(beam.PTransform):
    """Keeps the first row (by manifest line) of each id; later rows become `duplicate_id`."""

    def expand(self, rows):
        return (
            rows
            | "KeyById" >> beam.Map(lambda row: (row["id"], row))
            | "GroupById" >> beam.GroupByKey()
            | "KeepFirst" >> beam.FlatMap(_keep_first_of_id).with_outputs(REJECTED, main="unique")
        )


def _keep_first_of_id(id_and_rows):
    _, rows = id_and_rows
    first, *later = sorted(rows, key=lambda row: row["line"])
    yield first
    for row in later:
        progress.row_decided()
        detail = f"id already used on manifest line {first['line']}"
        row = {**row, "duplicate_of": first["id"]}
        yield pvalue.TaggedOutput(
            REJECTED, lineage.lineage_row(row, lineage.REJECTED, "duplicate_id", detail)
        )


class JudgeLicenceFn(beam.DoFn):
    """Decides from its licence, consent and the opt-out list whether a photo may be used."""

    def __init__(self, policy: Policy, use: str, opted_out: frozenset[str]):
        self._policy = policy
        self._use = use
        self._opted_out = opted_out

    def process(self, row):
        for out in self._judge(row):
            if isinstance(out, pvalue.TaggedOutput):
                progress.row_decided()  # allowed rows are decided after their photo is read
            yield out

    def _judge(self, row):
        try:
            consent = parse_consent(row.get("consent"))
        except ValueError as err:
            yield _reject(row, "bad_consent", str(err))
            return
        decision = self._policy.judge(row["licence"], self._use, consent)
        row = {
            **row,
            "consent_value": consent,
            "spdx": decision.spdx,
            "class": decision.licence_class,
            "obligations": list(decision.obligations),
        }
        if row["id"] in self._opted_out or (
            row["source_url"] and row["source_url"] in self._opted_out
        ):
            yield _reject(row, "opted_out", "id or source URL is on the opt-out list")
        elif not decision.allowed:
            yield _reject(row, decision.reason, f"licence not allowed for {self._use} use")
        else:
            yield row


class PreparePhotoFn(beam.DoFn):
    """Reads, decodes, locates the face and aligns one photo (see `idphoto.data.photo`), within
    `image.max_seconds_per_photo`."""

    def __init__(self, root: str, cfg: IngestConfig, opted_out: frozenset[str]):
        self._root = root
        self._cfg = cfg
        self._opted_out = opted_out
        self._detector = None
        self._detector_ready = False
        self._done = 0

    def setup(self):
        # The detector's network loads lazily on the first photo without landmarks.
        self._detector = FaceDetector(self._cfg.faces.detect_max_side)

    def process(self, row):
        yield from self._prepare(row)
        progress.row_decided()  # accepted or rejected; a duplicate is only found later

    def _prepare(self, row):
        self._ready_detector_for(row)
        deadline = Deadline(self._cfg.image.max_seconds_per_photo)
        try:
            source = read_source(row, self._root, self._cfg)
            deadline.check("reading the file")
        except PhotoRejected as rejected:
            yield _reject(row, rejected.reason, rejected.detail)
            return
        row = {**row, "sha256": source.sha256}
        if source.sha256 in self._opted_out:
            yield _reject(row, "opted_out", "sha256 is on the opt-out list")
            return
        try:
            photo = prepare_photo(row, source, self._cfg, self._detector, deadline)
        except PhotoRejected as rejected:
            yield _reject(row, rejected.reason, rejected.detail)
            return
        except Exception as err:  # hostile input can break a library; it must not stop the job
            _LOG.warning("photo %s could not be processed", row["id"], exc_info=True)
            yield _reject(row, "processing_error", f"{type(err).__name__}: {err}"[:200])
            return
        self._log_progress()
        yield {
            **row,
            "image_bytes": photo.image_bytes,
            "aligned_landmarks": photo.landmarks.tolist(),
            "landmarks_source": photo.landmarks_source,
            "pixel_sha256": photo.pixel_sha256,
            "phash": photo.phash,
        }

    def _ready_detector_for(self, row):
        # Builds the network before the first photo that needs it starts its clock: a one-off
        # load of several seconds is not that photo's time.
        landmarks = row.get("landmarks")
        if self._detector_ready or (landmarks is not None and str(landmarks).strip()):
            return
        self._detector_ready = True
        with contextlib.suppress(Exception):  # a broken detector fails again on the photo itself
            self._detector.detect(np.zeros((64, 64, 3), np.uint8))

    def _log_progress(self):
        self._done += 1
        if self._done % 100 == 0:
            _LOG.info("ingest worker: %d photos prepared", self._done)


class Deduplicate(beam.PTransform):
    """Rejects exact (same pixels) and near (perceptual hash) duplicates.

    The representative of a group is the smallest id, so the result does not depend on the
    order or sharding of the input. A near-duplicate points at its smallest-id neighbour.
    """

    def __init__(self, hash_bits: int, max_distance: int):
        super().__init__()
        self._hash_bits = hash_bits
        self._max_distance = max_distance

    def expand(self, records):
        exact = (
            records
            | "KeyByPixels" >> beam.Map(lambda r: (r["pixel_sha256"], r))
            | "GroupByPixels" >> beam.GroupByKey()
            | "KeepOnePerPixels"
            >> beam.FlatMap(_keep_smallest_id).with_outputs(REJECTED, main="unique")
        )
        unique = exact.unique
        id_to_nearest = (
            unique
            | "HashBands"
            >> beam.FlatMap(
                lambda r: [
                    (key, (r["id"], r["phash"]))
                    for key in band_keys(r["phash"], self._hash_bits, self._max_distance)
                ]
            )
            | "GroupByBand" >> beam.GroupByKey()
            | "ClosePairs" >> beam.FlatMap(_close_pairs, self._max_distance)
            | "SmallestNeighbour" >> beam.CombinePerKey(min)
        )
        near = (
            {
                "record": unique | "KeyById" >> beam.Map(lambda r: (r["id"], r)),
                "nearest": id_to_nearest,
            }
            | "JoinNeighbours" >> beam.CoGroupByKey()
            | "RejectNear" >> beam.FlatMap(_reject_near).with_outputs(REJECTED, main="kept")
        )
        rejected = (exact[REJECTED], near[REJECTED]) | "AllDuplicates" >> beam.Flatten()
        return {"kept": near.kept, REJECTED: rejected}


def _keep_smallest_id(digest_and_records):
    _, records = digest_and_records
    first, *others = sorted(records, key=lambda r: r["id"])
    yield first
    for record in others:
        record = {**record, "duplicate_of": first["id"]}
        yield pvalue.TaggedOutput(
            REJECTED, _lineage_of(record, "duplicate", "same pixels as another photo")
        )


def _close_pairs(band_and_members, max_distance):
    _, members = band_and_members
    members = sorted(set(members))
    for i, (id_a, hash_a) in enumerate(members):
        for id_b, hash_b in members[i + 1 :]:
            if hamming_distance(hash_a, hash_b) <= max_distance:
                yield (id_b, id_a)  # sorted, so id_a < id_b: the later id is the duplicate


def _reject_near(id_and_groups):
    _, groups = id_and_groups
    (record,) = groups["record"]
    nearest = list(groups["nearest"])
    if nearest:
        record = {**record, "duplicate_of": nearest[0]}
        yield pvalue.TaggedOutput(
            REJECTED, _lineage_of(record, "near_duplicate", "perceptually near another photo")
        )
    else:
        yield record


def holdout_split(record_id: str, salt: str, holdout_percent: float) -> str:
    """Returns the held-out split for the share of ids held out for evaluation, else train.

    The split hangs on the id alone, so a photo keeps its split when the dataset grows.
    """
    digest = hashlib.sha256(f"{salt}:{record_id}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") / 2**64 * 100
    return HELD_OUT_SPLIT if bucket < holdout_percent else TRAIN_SPLIT


class CountLineageFn(beam.DoFn):
    """Counts each lineage row by decision, reason and licence class for the ingest report."""

    def process(self, row):
        Metrics.counter(METRICS_NAMESPACE, f"decision:{row['decision']}").inc()
        Metrics.counter(METRICS_NAMESPACE, f"reason:{row['reason']}").inc()
        Metrics.counter(METRICS_NAMESPACE, f"class:{row['class'] or 'none'}").inc()
        if row["decision"] == lineage.ACCEPTED:
            Metrics.counter(METRICS_NAMESPACE, f"split:{row['split']}").inc()
        yield row


def _reject(record, reason, detail):
    return pvalue.TaggedOutput(REJECTED, _lineage_of(record, reason, detail))


def _lineage_of(record, reason, detail):
    return lineage.lineage_row(record, lineage.REJECTED, reason, detail)
