"""ADA's adaptive augmentation probability p (Karras et al. 2020, https://arxiv.org/abs/2006.06676).

A discriminator that has memorised a small training set grows confident on real images. The
heuristic r_t = E[sign(D(real))] measures that (0: no better than chance on reals, 1: every
real image scored real); every `interval` steps p moves up when r_t is above `target` and down
when below, by (images seen in the interval) / `images_to_full`, so p can cross [0, 1] in
`images_to_full` images at the steepest.

The paper's 500k images is ~2 % of its 25M-image runs. Our CPU runs see ~100k-300k images, and
a 600-photo set is memorised within a few thousand; 2 % of that would let p jump by whole tenths
on one noisy reading, so we use ~10-20k images (p can rise from 0 to 1 in about a tenth of a
run, still over several hundred steps of averaged readings).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from idphoto.models.config import AdaptiveAugmentConfig


def check_adaptive(cfg: AdaptiveAugmentConfig) -> None:
    """Rejects settings the controller cannot use, naming the key.

    Raises:
        ValueError: a setting out of range.
    """
    if not 0.0 <= cfg.target <= 1.0:
        raise ValueError(f"augment.adaptive.target must be in [0, 1], got {cfg.target}")
    if cfg.interval < 1:
        raise ValueError(f"augment.adaptive.interval must be at least 1, got {cfg.interval}")
    if cfg.images_to_full < 1:
        raise ValueError(
            f"augment.adaptive.images_to_full must be at least 1, got {cfg.images_to_full}"
        )
    if not 0.0 <= cfg.initial_p <= 1.0:
        raise ValueError(f"augment.adaptive.initial_p must be in [0, 1], got {cfg.initial_p}")


class AugmentProbability(keras.layers.Layer):
    """p and the running sums of the overfitting heuristic, as checkpointed variables.

    The variables are mirrored with "only_first_replica" aggregation and updated from
    all-reduced sums, so every replica holds the same p (and one device computes the same p
    as N replicas at the same global batch).

    Args:
        cfg: the adaptive settings.
    """

    def __init__(self, cfg: AdaptiveAugmentConfig, **kwargs):
        super().__init__(name="augment_probability", **kwargs)
        check_adaptive(cfg)
        self.cfg = cfg

        def variable(name, value):
            return self.add_weight(
                shape=(),
                initializer=keras.initializers.Constant(value),
                dtype="float32",
                trainable=False,
                aggregation="only_first_replica",
                name=name,
            )

        self.p = variable("p", cfg.initial_p)
        self.sign_sum = variable("sign_sum", 0.0)  # Σ sign(D(real)) since the last update
        self.count = variable("count", 0.0)  # real images since the last update
        self.built = True

    def update(self, real_logits: tf.Tensor, step: tf.Tensor) -> None:
        """Adds this replica's real logits to the heuristic; every `interval` steps moves p.

        Call once per step, in replica context, with the step's value before its increment.

        Args:
            real_logits: (B, 1) or (B,) discriminator logits of this replica's real images.
            step: the global step (0 for the first).
        """
        logits = tf.reshape(tf.cast(real_logits, tf.float32), [-1])
        local = tf.stack([tf.reduce_sum(tf.sign(logits)), tf.cast(tf.size(logits), tf.float32)])
        context = tf.distribute.get_replica_context()
        total = local if context is None else context.all_reduce("sum", local)
        sign_sum = self.sign_sum.value + total[0]
        count = self.count.value + total[1]
        due = tf.equal((tf.cast(step, tf.int64) + 1) % self.cfg.interval, 0)
        overfitting = sign_sum / tf.maximum(count, 1.0)  # r_t
        adjust = tf.sign(overfitting - self.cfg.target) * count / self.cfg.images_to_full
        moved = tf.clip_by_value(self.p.value + adjust, 0.0, 1.0)
        self.p.assign(tf.where(due, moved, self.p.value))
        self.sign_sum.assign(tf.where(due, 0.0, sign_sum))
        self.count.assign(tf.where(due, 0.0, count))
