"""The training input pipeline: the ingest output (TFDS folder) as batches of images in [-1, 1].

Shards are read in parallel (TFDS interleave), decoded in parallel, resized to the model's
resolution, optionally turned to grayscale and mirrored, shuffled with a fixed seed, batched by
the global batch size and prefetched. Every random choice is seeded, so a run is repeatable.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from idphoto.data.digest import dataset_digest, record_digest
from idphoto.errors import UserError
from idphoto.training.config import DataConfig, ModelConfig

TRAIN_SPLIT = "train"
HELD_OUT_SPLIT = "test"
_REPORT = "ingest_report.json"
_CACHE_LIMIT_BYTES = 1 << 30


@dataclasses.dataclass(frozen=True)
class IngestedDataset:
    """What a training run needs to know about an ingest output folder."""

    path: str
    use: str  # the intended use the photos were judged for
    splits: dict[str, int]  # examples per split
    report: dict


def open_ingested(path: str, use: str | None = None) -> IngestedDataset:
    """Checks an ingest output folder before any model is built.

    Args:
        path: the `--out` folder of `idphoto ingest`.
        use: the use the run asks for; None accepts the dataset's.

    Raises:
        UserError: the folder is missing, incomplete or empty, or was ingested for another use.
    """
    if not tf.io.gfile.exists(path):
        raise UserError(f"--data {path} does not exist; run `idphoto ingest` first")
    report_path = os.path.join(path, _REPORT)
    if not tf.io.gfile.exists(report_path):
        raise UserError(f"--data {path} is not a complete ingest output (no {_REPORT})")
    with tf.io.gfile.GFile(report_path) as handle:
        report = json.load(handle)
    splits = dict(report.get("splits", {}))
    if splits.get(TRAIN_SPLIT, 0) == 0:
        raise UserError(
            f"--data {path} holds no training examples (every photo was rejected or held out; "
            "see its lineage.parquet)"
        )
    if not tf.io.gfile.exists(os.path.join(path, "dataset_info.json")):
        raise UserError(f"--data {path} is not a complete ingest output (no dataset_info.json)")
    if use is not None and report.get("use") != use:
        raise UserError(
            f"--data {path} was ingested for {report.get('use')} use; this run asks for {use}"
        )
    return IngestedDataset(path=path, use=report["use"], splits=splits, report=report)


def content_digests(dataset: IngestedDataset) -> dict[str, str]:
    """The TFRecord content digests of the dataset, by split and `all`.

    Ingest records them in its report; for a dataset written before it did, they are computed
    here from the shards (the same order-free digest).
    """
    recorded = dataset.report.get("content_sha256")
    if recorded:
        return dict(recorded)
    found = {}
    for split in dataset.splits:
        pattern = os.path.join(dataset.path, f"*-{split}.tfrecord-*")
        shards = sorted(tf.io.gfile.glob(pattern))
        found[split] = record_digest(r.numpy() for r in tf.data.TFRecordDataset(shards))
    return {**found, "all": dataset_digest(found)}


def check_batch_fits(dataset: IngestedDataset, global_batch: int) -> None:
    """Raises UserError when the training split cannot fill one global batch.

    A batch drawn from fewer photos than its size repeats photos within the batch, which skews
    the discriminator's statistics; the user should lower the batch instead.
    """
    count = dataset.splits[TRAIN_SPLIT]
    if count < global_batch:
        raise UserError(
            f"the training split has {count} photos, fewer than one global batch of "
            f"{global_batch}; lower data.batch_size_per_replica"
        )


def training_batches(
    dataset: IngestedDataset, model: ModelConfig, data: DataConfig, global_batch: int, seed: int
) -> tf.data.Dataset:
    """Returns an endless dataset of (global_batch, R, R, C) float32 images in [-1, 1].

    Raises:
        UserError: the training split has fewer examples than one global batch.
    """
    check_batch_fits(dataset, global_batch)
    count = dataset.splits[TRAIN_SPLIT]
    images = _read_split(dataset.path, TRAIN_SPLIT, seed, shuffle_files=True)
    images = images.map(
        lambda encoded: _prepare(encoded, model.resolution, model.channels),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    if count * model.resolution**2 * model.channels * 4 <= _CACHE_LIMIT_BYTES:
        images = images.cache()  # small sets are decoded once and kept in memory
    # Repeat, then shuffle the endless stream once: every iterator over the result yields the
    # same sequence, however many iterators Keras creates (a per-iteration reshuffle would make
    # the order depend on that count).
    images = images.repeat().shuffle(
        min(data.shuffle_buffer, count), seed=seed, reshuffle_each_iteration=False
    )
    if data.mirror:
        images = images.enumerate().map(
            lambda index, image: _mirror(image, index, seed), num_parallel_calls=tf.data.AUTOTUNE
        )
    options = tf.data.Options()
    # Each worker reads every shard and keeps its share of examples: shard files are few.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    batches = images.batch(global_batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    return batches.with_options(options)


def held_out_images(dataset: IngestedDataset, model: ModelConfig, limit: int) -> np.ndarray:
    """Returns up to `limit` held-out photos as uint8 (N, R, R, C) for evaluation.

    Falls back to the training split when the held-out split is empty (tiny datasets).
    """
    split = HELD_OUT_SPLIT if dataset.splits.get(HELD_OUT_SPLIT, 0) else TRAIN_SPLIT
    images = _read_split(dataset.path, split, seed=0, shuffle_files=False).take(limit)
    images = images.map(lambda encoded: _prepare(encoded, model.resolution, model.channels))
    batches = [((b.numpy() + 1.0) * 127.5).round().astype(np.uint8) for b in images.batch(256)]
    return np.concatenate(batches) if batches else np.zeros((0,), np.uint8)


def _read_split(path: str, split: str, seed: int, shuffle_files: bool) -> tf.data.Dataset:
    builder = tfds.builder_from_directory(path)
    read_config = tfds.ReadConfig(
        shuffle_seed=seed,
        interleave_cycle_length=tf.data.AUTOTUNE,
        num_parallel_calls_for_interleave_files=tf.data.AUTOTUNE,
    )
    examples = builder.as_dataset(
        split=split,
        shuffle_files=shuffle_files,
        read_config=read_config,
        decoders={"image": tfds.decode.SkipDecoding()},  # decoded in parallel in _prepare
    )
    return examples.map(lambda example: example["image"])


def training_photo_chunks(
    dataset: IngestedDataset, resolution: int, channels: int, chunk: int
) -> Iterator[tuple[np.ndarray, list[str]]]:
    """The training split in a fixed order, as the model sees it, in chunks.

    Yields:
        (n, resolution, resolution, channels) float32 images in [0, 1], and their photo ids.
    """
    builder = tfds.builder_from_directory(dataset.path)
    examples = builder.as_dataset(
        split=TRAIN_SPLIT, shuffle_files=False, decoders={"image": tfds.decode.SkipDecoding()}
    )
    prepared = examples.map(
        lambda e: ((_prepare(e["image"], resolution, channels) + 1.0) / 2.0, e["id"]),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    for images, ids in prepared.batch(chunk).prefetch(1).as_numpy_iterator():
        yield images, [i.decode("utf-8") for i in ids]


def _prepare(encoded: tf.Tensor, resolution: int, channels: int) -> tf.Tensor:
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image = tf.image.convert_image_dtype(image, tf.float32)  # [0, 1]
    image = tf.image.resize(image, (resolution, resolution), antialias=True)
    if channels == 1:
        image = tf.image.rgb_to_grayscale(image)
    image = tf.clip_by_value(image, 0.0, 1.0) * 2.0 - 1.0
    return tf.ensure_shape(image, (resolution, resolution, channels))


def _mirror(image: tf.Tensor, index: tf.Tensor, seed: int) -> tf.Tensor:
    # Stateless: the flip of the n-th image depends only on (seed, n), so reruns match.
    pair = tf.stack([tf.constant(seed, tf.int64), index])
    return tf.image.stateless_random_flip_left_right(image, seed=pair)
