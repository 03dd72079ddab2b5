"""The training input pipeline: an ingested dataset as batches of images in [-1, 1].

Shards are read in parallel (TFDS interleave), decoded in parallel, resized to the model's
resolution, optionally turned to grayscale and mirrored, shuffled with a fixed seed, batched by
the global batch size and prefetched. Every random choice is seeded, so a run is repeatable.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from idphoto.data.dataset import TRAIN_SPLIT, IngestedDataset, as_model_input, encoded_images
from idphoto.errors import UserError
from idphoto.models.config import ModelConfig
from idphoto.training.config import DataConfig

_CACHE_LIMIT_BYTES = 1 << 30


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
    dataset: IngestedDataset,
    model: ModelConfig,
    data: DataConfig,
    global_batch: int,
    seed: int,
    skip_batches: int = 0,
) -> tf.data.Dataset:
    """Returns an endless dataset of (global_batch, R, R, C) float32 images in [-1, 1].

    The stream is the same on every call; `skip_batches` starts it after that many batches,
    so a run resumed at step N sees the batches an uninterrupted run would have seen.

    Raises:
        UserError: the training split has fewer examples than one global batch.
    """
    check_batch_fits(dataset, global_batch)
    count = dataset.splits[TRAIN_SPLIT]
    images = encoded_images(dataset, TRAIN_SPLIT, seed, shuffle_files=True).map(
        lambda example: as_model_input(example["image"], model.resolution, model.channels),
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
    batches = images.batch(global_batch, drop_remainder=True).skip(skip_batches)
    batches = batches.prefetch(tf.data.AUTOTUNE)
    return batches.with_options(options)


def real_images(
    dataset: IngestedDataset, split: str, model: ModelConfig, limit: int, seed: int
) -> np.ndarray:
    """Up to `limit` photos of a split as uint8 (N, R, R, C), drawn in a seeded order.

    The same arguments give the same photos in the same order, so quality metrics computed at
    different steps (and in resumed runs) compare against the same real set.
    """
    count = dataset.splits.get(split, 0)
    shape = (0, model.resolution, model.resolution, model.channels)
    if count == 0:
        return np.zeros(shape, np.uint8)
    examples = encoded_images(dataset, split).shuffle(
        count, seed=seed, reshuffle_each_iteration=False
    )
    images = examples.take(limit).map(
        lambda example: as_model_input(example["image"], model.resolution, model.channels)
    )
    batches = [((b.numpy() + 1.0) * 127.5).round().astype(np.uint8) for b in images.batch(256)]
    return np.concatenate(batches)


def _mirror(image: tf.Tensor, index: tf.Tensor, seed: int) -> tf.Tensor:
    # Stateless: the flip of the n-th image depends only on (seed, n), so reruns match.
    pair = tf.stack([tf.constant(seed, tf.int64), index])
    return tf.image.stateless_random_flip_left_right(image, seed=pair)
