"""The ingested dataset: the one module that knows an ingest output folder and how to read it.

`idphoto ingest --out DIR` writes:

- `idphoto-{train,test}.tfrecord-*`, `dataset_info.json`, `features.json`: the TFDS layout;
  `dataset_info.json` is written last and marks the folder complete;
- `lineage.parquet`: one row per manifest row, accepted or rejected;
- `ATTRIBUTION.md`: credits of the accepted photos whose licence requires them;
- `ingest_report.json`: counts, splits, content digests, and what the dataset was made with;
- `licence_policy.yaml`: the licence policy the photos were judged with, byte for byte.

What a dataset was made with — the resolved ingest config, the policy text and its digest, and
the use — travels with it, so later stages judge and frame with what ingest used, not with
whatever `configs/` holds today. Small files are read through Beam's `FileSystems` (local paths,
`gs://`, `s3://`), the shards through TFDS.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import posixpath
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from apache_beam.io.filesystems import FileSystems

from idphoto import config
from idphoto.data import lineage
from idphoto.data.digest import dataset_digest, record_digest
from idphoto.data.ingest_config import IngestConfig
from idphoto.errors import UserError
from idphoto.licences import Policy, parse_policy

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa
    import tensorflow as tf

LINEAGE_FILE = "lineage.parquet"
ATTRIBUTION_FILE = "ATTRIBUTION.md"
REPORT_FILE = "ingest_report.json"
POLICY_FILE = "licence_policy.yaml"
INFO_FILE = "dataset_info.json"  # TFDS metadata, written last: its presence means complete
TRAIN_SPLIT = "train"
HELD_OUT_SPLIT = "test"
SPLITS = (TRAIN_SPLIT, HELD_OUT_SPLIT)
# The files a training run logs beside its model, so its lineage outlives the folder.
RECORD_FILES = (REPORT_FILE, LINEAGE_FILE, ATTRIBUTION_FILE, POLICY_FILE)


def join(folder: str, name: str) -> str:
    """The path of `name` inside a dataset folder (local or an object-store URI)."""
    return posixpath.join(folder, name) if "://" in folder else FileSystems.join(folder, name)


def shard_prefix(folder: str, dataset_name: str, split: str) -> str:
    """The file prefix a split's TFRecord shards are written under (TFDS's file template)."""
    return f"{folder}/{dataset_name}-{split}.tfrecord"


def digest_path(folder: str, split: str) -> str:
    """Where the job leaves a split's content digest until the report takes it in."""
    return join(folder, f"_digest-{split}.txt")


@dataclasses.dataclass(frozen=True)
class MadeWith:
    """What a dataset was made with; every later stage judges and frames with this.

    Attributes:
        use: the intended use its photos were judged for.
        policy_text: the licence policy file, as ingest read it.
        policy_sha256: `Policy.digest` of that policy (content, not layout).
        config: the resolved ingest config (framing, face and split settings).
    """

    use: str
    policy_text: str
    policy_sha256: str
    config: IngestConfig

    @functools.cached_property
    def policy(self) -> Policy:
        """The licence policy the dataset was judged with."""
        return parse_policy(self.policy_text, POLICY_FILE)


@dataclasses.dataclass(frozen=True)
class IngestedDataset:
    """A complete ingest output folder.

    Attributes:
        path: the folder.
        splits: examples per split (splits without examples are absent).
        report: `ingest_report.json` as written.
        made_with: the use, policy and config it was made with.
    """

    path: str
    splits: dict[str, int]
    report: dict[str, Any]
    made_with: MadeWith

    @property
    def use(self) -> str:
        """The intended use its photos were judged for."""
        return self.made_with.use

    def lineage_table(self, columns: list[str] | None = None) -> pa.Table:
        """The lineage, one row per manifest row."""
        return read_lineage_table(self.path, columns)

    def lineage_rows(self) -> list[dict]:
        """The lineage as a list of plain dicts."""
        return self.lineage_table().to_pylist()

    def content_digests(self) -> dict[str, str]:
        """The TFRecord content digests by split, and over all splits under `all`.

        Ingest records them in its report; the shards are hashed here only for a report
        without them.
        """
        recorded = self.report.get("content_sha256")
        if recorded:
            return dict(recorded)
        found = {split: _shards_digest(self.path, split) for split in self.splits}
        return {**found, "all": dataset_digest(found)}

    def record_file(self, name: str) -> str:
        """The path of one of `RECORD_FILES` in this dataset."""
        return join(self.path, name)


def open_ingested(path: str, use: str | None = None) -> IngestedDataset:
    """Opens an ingest output folder, checking it is complete and fit to train on.

    Args:
        path: the `--out` folder of `idphoto ingest`.
        use: the use a caller asks for; None accepts the dataset's.

    Raises:
        UserError: the folder is missing, incomplete or without training examples, was
            ingested for another use, or carries no record of its policy and config.
    """
    if not _exists(path):
        raise UserError(f"--data {path} does not exist; run `idphoto ingest` first")
    if not _exists(join(path, REPORT_FILE)):
        raise UserError(f"--data {path} is not a complete ingest output (no {REPORT_FILE})")
    report = read_report(path)
    splits = dict(report.get("splits", {}))
    if splits.get(TRAIN_SPLIT, 0) == 0:
        raise UserError(
            f"--data {path} holds no training examples (every photo was rejected or held out; "
            f"see its {LINEAGE_FILE})"
        )
    if not _exists(join(path, INFO_FILE)):
        raise UserError(f"--data {path} is not a complete ingest output (no {INFO_FILE})")
    made_with = _made_with(path, report)
    if use is not None and made_with.use != use:
        raise UserError(
            f"--data {path} was ingested for {made_with.use} use; this run asks for {use}"
        )
    return IngestedDataset(path=path, splits=splits, report=report, made_with=made_with)


def read_report(folder: str) -> dict[str, Any]:
    """`ingest_report.json` of a dataset folder."""
    return json.loads(_read_text(join(folder, REPORT_FILE)))


def read_lineage_table(folder: str, columns: list[str] | None = None) -> pa.Table:
    """The lineage of a dataset folder (local or on an object store)."""
    with FileSystems.open(join(folder, LINEAGE_FILE), compression_type="uncompressed") as handle:
        return lineage.read_lineage(handle, columns)


def made_with_record(
    use: str, policy_source: str, policy_sha256: str, ingest_config: IngestConfig
) -> dict:
    """The report's `made_with` entry; the policy's text is the dataset's `POLICY_FILE`.

    Args:
        use: the intended use the photos were judged for.
        policy_source: where ingest read the policy from (for people; the copy is what counts).
        policy_sha256: `Policy.digest` of that policy.
        ingest_config: the resolved ingest config.
    """
    return {
        "use": use,
        "policy_source": policy_source,
        "policy_file": POLICY_FILE,
        "policy_sha256": policy_sha256,
        "config": config.to_dict(ingest_config),
    }


def _made_with(path: str, report: dict) -> MadeWith:
    record = report.get("made_with")
    if not record or not _exists(join(path, POLICY_FILE)):
        raise UserError(
            f"--data {path} does not record the policy and config it was made with "
            "(ingested by an older idphoto); ingest it again"
        )
    made_with = MadeWith(
        use=record["use"],
        policy_text=_read_text(join(path, POLICY_FILE)),
        policy_sha256=record["policy_sha256"],
        config=config.from_dict(IngestConfig, record["config"], "made_with.config"),
    )
    if made_with.policy.digest != made_with.policy_sha256:
        raise UserError(
            f"--data {path}: {POLICY_FILE} does not match the policy digest in {REPORT_FILE}; "
            "the dataset was changed after ingest"
        )
    return made_with


# --- Reading the examples (TensorFlow is imported only here: it is slow to load) ---


def encoded_images(
    dataset: IngestedDataset, split: str, seed: int = 0, shuffle_files: bool = False
) -> tf.data.Dataset:
    """A split's examples as `{"image": encoded PNG/JPEG bytes, "id": ...}`, undecoded."""
    import tensorflow_datasets as tfds

    builder = tfds.builder_from_directory(dataset.path)
    read_config = tfds.ReadConfig(
        shuffle_seed=seed,
        interleave_cycle_length=-1,  # tf.data.AUTOTUNE
        num_parallel_calls_for_interleave_files=-1,
    )
    return builder.as_dataset(
        split=split,
        shuffle_files=shuffle_files,
        read_config=read_config,
        decoders={"image": tfds.decode.SkipDecoding()},  # callers decode in parallel
    )


def as_model_input(encoded: tf.Tensor, resolution: int, channels: int) -> tf.Tensor:
    """Decodes one aligned photo and resizes it as a model sees it: float32 in [-1, 1]."""
    import tensorflow as tf

    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image = tf.image.convert_image_dtype(image, tf.float32)  # [0, 1]
    image = tf.image.resize(image, (resolution, resolution), antialias=True)
    if channels == 1:
        image = tf.image.rgb_to_grayscale(image)
    image = tf.clip_by_value(image, 0.0, 1.0) * 2.0 - 1.0
    return tf.ensure_shape(image, (resolution, resolution, channels))


def photo_chunks(
    dataset: IngestedDataset, split: str, resolution: int, channels: int, chunk: int
) -> Iterator[tuple[np.ndarray, list[str]]]:
    """A split in a fixed order, as a model sees it, in chunks.

    Yields:
        (n, resolution, resolution, channels) float32 images in [0, 1], and their photo ids.
    """
    import tensorflow as tf

    prepared = encoded_images(dataset, split).map(
        lambda e: ((as_model_input(e["image"], resolution, channels) + 1.0) / 2.0, e["id"]),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    for images, ids in prepared.batch(chunk).prefetch(1).as_numpy_iterator():
        yield images, [i.decode("utf-8") for i in ids]


def _shards_digest(path: str, split: str) -> str:
    import tensorflow as tf

    shards = sorted(tf.io.gfile.glob(f"{path}/*-{split}.tfrecord-*"))
    return record_digest(r.numpy() for r in tf.data.TFRecordDataset(shards))


def _exists(path: str) -> bool:
    return FileSystems.exists(path)


def _read_text(path: str) -> str:
    with FileSystems.open(path, compression_type="uncompressed") as handle:
        return handle.read().decode("utf-8")
