"""The GAN as a `keras.Model` whose `train_step` does one discriminator and one generator update.

Written in the keras-io "overriding train_step" style
(https://keras.io/examples/generative/dcgan_overriding_train_step/) and made to give the same
result under `tf.distribute.MirroredStrategy` with N replicas as on one device at the same global
batch:

- Per-example losses are summed and divided by the GLOBAL batch size: Keras 3's optimizer
  all-reduces gradients with SUM across replicas (`TFOptimizer._all_reduce_sum_gradients`), so
  the replicas' partial sums add up to the global mean.
- Latents and DiffAugment parameters are drawn for the whole global batch from a stateless RNG
  keyed by (seed, step, purpose); each replica takes its rows. A step counter in the model keeps
  the stream going across resumed runs.
- Batch norm in the generator should be synchronized (`ModelConfig.synchronized_batch_norm`).
- ADA's augmentation probability is computed from all-reduced discriminator outputs and held
  in variables every replica updates alike (`idphoto.models.ada`).

A discriminator may return `[logits, *features]`; an `auxiliary` layer then turns the real
images' features into an extra per-example discriminator loss (FastGAN's reconstruction,
`idphoto.models.fastgan.ReconstructionHead`), trained with the discriminator's optimizer.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from idphoto.models.ada import AugmentProbability
from idphoto.models.config import AugmentConfig, EmaConfig, LossConfig
from idphoto.models.diffaugment import (
    check_policy,
    diff_augment,
    draw_augment_gates,
    draw_augment_params,
)

LOSS_KINDS = ("non_saturating", "hinge")
METRICS = ("d_loss", "g_loss", "r1_penalty", "d_real_score", "d_fake_score")

# Purposes of the random draws of one step: each gets its own stateless stream.
_LATENTS_D, _LATENTS_G, _AUGMENT_REAL, _AUGMENT_FAKE_D, _AUGMENT_FAKE_G, _AUXILIARY = range(6)


def discriminator_loss(kind: str, real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """Per-example discriminator loss.

    Args:
        kind: "non_saturating" (binary cross-entropy on logits: softplus(-real) + softplus(fake))
            or "hinge" (relu(1 - real) + relu(1 + fake); Lim & Ye 2017,
            https://arxiv.org/abs/1705.02894).
        real_logits: (B,) or (B, 1) logits of real images.
        fake_logits: (B,) or (B, 1) logits of generated images.

    Returns:
        (B,) float32 losses, one per real/fake pair.
    """
    real = tf.reshape(tf.cast(real_logits, tf.float32), [-1])
    fake = tf.reshape(tf.cast(fake_logits, tf.float32), [-1])
    if kind == "non_saturating":
        return tf.nn.softplus(-real) + tf.nn.softplus(fake)
    if kind == "hinge":
        return tf.nn.relu(1.0 - real) + tf.nn.relu(1.0 + fake)
    raise ValueError(f"loss.kind must be one of {', '.join(LOSS_KINDS)}, got {kind!r}")


def generator_loss(kind: str, fake_logits: tf.Tensor) -> tf.Tensor:
    """Per-example generator loss.

    Args:
        kind: "non_saturating" (softplus(-fake), i.e. -log D(G(z)); Goodfellow et al. 2014,
            https://arxiv.org/abs/1406.2661) or "hinge" (-fake).
        fake_logits: (B,) or (B, 1) logits of generated images.

    Returns:
        (B,) float32 losses.
    """
    fake = tf.reshape(tf.cast(fake_logits, tf.float32), [-1])
    if kind == "non_saturating":
        return tf.nn.softplus(-fake)
    if kind == "hinge":
        return -fake
    raise ValueError(f"loss.kind must be one of {', '.join(LOSS_KINDS)}, got {kind!r}")


class GAN(keras.Model):
    """A generator, a discriminator, their optimizers and an EMA copy of the generator.

    Create it (and call `compile`) inside the strategy's scope, and `fit` it on real images in
    [-1, 1] batched by the global batch size with the remainder dropped (a short batch would still
    be averaged over the full global batch). The one replica-dependent randomness left is dropout
    in the seed_dcgan discriminator: Keras draws dropout masks per replica.

    Args:
        generator: (latent_dim,) → images in [-1, 1].
        discriminator: images → (1,) logits, or [logits, *features] for `auxiliary`; without
            batch norm, for R1's per-example gradients.
        latent_dim: length of the generator's input vector.
        loss: adversarial loss kind and R1 weight.
        augment: DiffAugment policy for real and fake images before the discriminator, and
            whether ADA adapts the probability of applying it.
        ema: whether and how fast to average the generator's weights.
        global_batch_size: images per step summed over all replicas.
        seed: seed of every random draw of training (latents, augmentation).
        auxiliary: a layer called as `auxiliary(augmented_real, features, uniform)` returning a
            per-example loss added to the discriminator's; `uniform` is one (B,) draw in
            [0, 1) per example. It names its metric by `loss_name`.
        **kwargs: passed to `keras.Model`.

    Raises:
        ValueError: an invalid setting; the message names the config key.
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        *,
        latent_dim: int,
        loss: LossConfig,
        augment: AugmentConfig,
        ema: EmaConfig,
        global_batch_size: int,
        seed: int,
        auxiliary: keras.layers.Layer | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if loss.kind not in LOSS_KINDS:
            raise ValueError(f"loss.kind must be one of {', '.join(LOSS_KINDS)}, got {loss.kind!r}")
        if loss.r1_gamma < 0:
            raise ValueError(f"loss.r1_gamma must be non-negative, got {loss.r1_gamma}")
        if not 0.0 <= ema.decay < 1.0:
            raise ValueError(f"ema.decay must be in [0, 1), got {ema.decay}")
        if global_batch_size < 1:
            raise ValueError(f"global_batch_size must be positive, got {global_batch_size}")
        if generator.input_shape[-1] != latent_dim:
            raise ValueError(
                f"model.latent_dim is {latent_dim}; the generator takes {generator.input_shape}"
            )
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.loss_config = loss
        self.augment_policy = check_policy(augment.policy)
        self.ema_config = ema
        self.global_batch_size = global_batch_size
        self.seed = seed
        self.ema_generator = _clone_for_ema(generator) if ema.enabled else generator
        self.auxiliary = auxiliary
        # ADA's p; None applies every augmentation op to every image (plain DiffAugment).
        self.augment_probability = (
            AugmentProbability(augment.adaptive) if augment.adaptive.enabled else None
        )
        # int64 like the optimizers' `iterations`; "only_first_replica": one increment per step,
        # whatever the number of replicas. Checkpointed with the model, so a resumed run
        # continues the same random stream.
        self.step_counter = keras.Variable(
            0, dtype="int64", trainable=False, name="step_counter", aggregation="only_first_replica"
        )
        names = METRICS + ((auxiliary.loss_name,) if auxiliary is not None else ())
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        # The sub-models are built; marking the wrapper built stops `fit` from tracing a `call`.
        self.built = True

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        """Sets one optimizer per network.

        Args:
            d_optimizer: discriminator optimizer (a `LossScaleOptimizer` under mixed_float16).
            g_optimizer: generator optimizer (likewise).
            **kwargs: passed to `keras.Model.compile` (e.g. `run_eagerly`, `steps_per_execution`).
        """
        super().compile(optimizer=None, **kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        # Build the slots now, in the strategy's scope, not lazily inside a replica's step.
        d_optimizer.build(self._discriminator_weights())
        g_optimizer.build(self.generator.trainable_variables)

    @property
    def metrics(self):
        """The Mean trackers (in `METRICS` order, then the auxiliary loss's) Keras resets at the
        start of each epoch."""
        return list(self.trackers.values())

    def generate(self, z: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Images from the EMA generator (the generator itself when EMA is off).

        Args:
            z: (B, latent_dim) float32 latents.
            training: run batch norm in training mode.

        Returns:
            (B, R, R, C) float32 images in [-1, 1].
        """
        return self.ema_generator(z, training=training)

    def train_step(self, real_images):
        """One discriminator update, then one generator update, then the EMA update.

        Args:
            real_images: this replica's (local_batch, H, W, C) float32 images in [-1, 1].

        Returns:
            The trackers' current means, by name, and `augment_p` (ADA's current p) with ADA.
        """
        real_images = tf.cast(real_images, tf.float32)
        step = tf.identity(self.step_counter.value)  # this step's value, read before the +1
        real_logits = self._train_discriminator(real_images, step)
        self._train_generator(tf.shape(real_images)[0], step)
        if self.ema_generator is not self.generator:
            self._update_ema(self._latents(step, _LATENTS_G, tf.shape(real_images)[0]))
        if self.augment_probability is not None:
            self.augment_probability.update(real_logits, step)
        self.step_counter.assign_add(1)
        results = {metric.name: metric.result() for metric in self.metrics}
        if self.augment_probability is not None:
            results["augment_p"] = tf.identity(self.augment_probability.p.value)
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras reduces multi-worker step outputs with `reduce(MEAN, axis=0)`, which needs a
            # leading axis; it comes back as the scalar mean.
            results = {name: tf.reshape(value, [1]) for name, value in results.items()}
        return results

    def _train_discriminator(self, real_images: tf.Tensor, step: tf.Tensor) -> tf.Tensor:
        """One discriminator update; returns this replica's real logits (for ADA)."""
        batch = tf.shape(real_images)[0]
        fake_images = self.generator(self._latents(step, _LATENTS_D, batch), training=True)
        real_draws = self._augment_draws(step, _AUGMENT_REAL, batch)
        fake_draws = self._augment_draws(step, _AUGMENT_FAKE_D, batch)
        with tf.GradientTape() as tape:
            augmented, real_logits, features, r1 = self._score_real_with_r1(real_images, real_draws)
            fake_logits, _ = self._score(fake_images, fake_draws)
            adversarial = discriminator_loss(self.loss_config.kind, real_logits, fake_logits)
            total = adversarial + r1
            if self.auxiliary is not None:
                uniform = self._replica_rows(
                    tf.random.stateless_uniform(
                        [self.global_batch_size], seed=self._key(step, _AUXILIARY)
                    ),
                    batch,
                )
                auxiliary = tf.cast(self.auxiliary(augmented, features, uniform), tf.float32)
                total = total + auxiliary
            scaled = _scale_loss(self.d_optimizer, self._global_mean(total))
        weights = self._discriminator_weights()
        grads = tape.gradient(scaled, weights)
        self.d_optimizer.apply_gradients(zip(grads, weights, strict=True))
        # Per-example values: each replica's Mean adds its sum and count, so the logged mean
        # is the global batch's.
        self.trackers["d_loss"].update_state(adversarial)
        self.trackers["r1_penalty"].update_state(r1)
        self.trackers["d_real_score"].update_state(tf.reshape(real_logits, [-1]))
        self.trackers["d_fake_score"].update_state(tf.reshape(fake_logits, [-1]))
        if self.auxiliary is not None:
            self.trackers[self.auxiliary.loss_name].update_state(auxiliary)
        return real_logits

    def _score_real_with_r1(self, real_images: tf.Tensor, draws: tuple) -> tuple:
        """D on the augmented real images: (augmented images, logits, features, per-example R1).

        R1 (Mescheder et al. 2018, https://arxiv.org/abs/1801.04406) is gamma/2·||∇x D(x)||² on
        real data, through the augmentation as in the DiffAugment code. The gradient of the
        logits' sum is per-example because the discriminator has no batch norm.
        """
        gamma = self.loss_config.r1_gamma
        if gamma == 0:
            augmented = self._augment(real_images, draws)
            real_logits, features = self._discriminate(augmented)
            r1 = tf.zeros_like(tf.reshape(real_logits, [-1]), tf.float32)
            return augmented, real_logits, features, r1
        # Under mixed precision the input gradient is loss-scaled too, lest float16 underflow.
        loss_scale = _scale_loss(self.d_optimizer, tf.constant(1.0))
        with tf.GradientTape(watch_accessed_variables=False) as r1_tape:
            r1_tape.watch(real_images)
            augmented = self._augment(real_images, draws)
            real_logits, features = self._discriminate(augmented)
            total = tf.reduce_sum(tf.cast(real_logits, tf.float32)) * loss_scale
        grads = tf.cast(r1_tape.gradient(total, real_images), tf.float32) / loss_scale
        r1 = 0.5 * gamma * tf.reduce_sum(tf.square(grads), axis=[1, 2, 3])
        return augmented, real_logits, features, r1

    def _train_generator(self, batch: tf.Tensor, step: tf.Tensor) -> None:
        latents = self._latents(step, _LATENTS_G, batch)
        draws = self._augment_draws(step, _AUGMENT_FAKE_G, batch)
        with tf.GradientTape() as tape:
            fake_logits, _ = self._score(self.generator(latents, training=True), draws)
            per_example = generator_loss(self.loss_config.kind, fake_logits)
            scaled = _scale_loss(self.g_optimizer, self._global_mean(per_example))
        weights = self.generator.trainable_variables
        grads = tape.gradient(scaled, weights)
        self.g_optimizer.apply_gradients(zip(grads, weights, strict=True))
        self.trackers["g_loss"].update_state(per_example)

    def _score(self, images: tf.Tensor, draws: tuple) -> tuple:
        """D's logits of the images after DiffAugment with `draws`, and its features."""
        return self._discriminate(self._augment(images, draws))

    def _augment(self, images: tf.Tensor, draws: tuple) -> tf.Tensor:
        """DiffAugment with this batch's (params, gates); gated by ADA's p when adaptive."""
        params, gates = draws
        if self.augment_probability is None:
            return diff_augment(images, self.augment_policy, params)
        probability = self.augment_probability.p.value
        return diff_augment(images, self.augment_policy, params, gates, probability)

    def _discriminate(self, images: tf.Tensor) -> tuple:
        """(logits, features): a discriminator with one output has no features."""
        outputs = self.discriminator(images, training=True)
        if isinstance(outputs, list | tuple):
            return outputs[0], list(outputs[1:])
        return outputs, []

    def _discriminator_weights(self) -> list:
        """What the discriminator's optimizer trains: its weights and the auxiliary head's."""
        weights = list(self.discriminator.trainable_variables)
        if self.auxiliary is not None:
            weights += self.auxiliary.trainable_variables
        return weights

    def _update_ema(self, latents: tf.Tensor) -> None:
        """ema ← d·ema + (1 − d)·w for weights, d = min(decay, (1 + step) / (10 + step)); then
        one forward pass of the EMA generator in training mode on `latents`, so its batch norms
        keep moving statistics of its own.

        Copying the generator's statistics instead would pair the averaged weights with the
        activation statistics of other (the latest) weights; on fastgan64 that cost ~25 SWD.
        Recomputing batch-norm statistics for averaged weights is what SWA does too (Izmailov et
        al. 2018, https://arxiv.org/abs/1803.05407, §3.2).

        Runs in replica context on each replica's own copy of the EMA variables (created with
        Keras's default aggregation "none", so an assignment writes the local copy). Every
        replica computes the same value: the generator's weights are mirrored and updated with
        all-reduced gradients, and synchronized batch norm gives every replica the same batch
        statistics (tests/models/test_distributed.py compares every replica's copy).
        """
        # Warm-up as in tf.train.ExponentialMovingAverage: early on, a decay of 0.999 would
        # keep the random initial weights in the average for thousands of steps.
        step = tf.cast(self.step_counter.value, tf.float32)
        decay = tf.minimum(self.ema_config.decay, (1.0 + step) / (10.0 + step))
        for average, weight in zip(
            self.ema_generator.trainable_weights, self.generator.trainable_weights, strict=True
        ):
            average.assign(decay * average.value + (1.0 - decay) * weight.value)
        self.ema_generator(latents, training=True)

    def _global_mean(self, per_example: tf.Tensor) -> tf.Tensor:
        """This replica's share of the global-batch mean: its sum over the GLOBAL batch size.

        The optimizer sums gradients over replicas, so the shares add up to the global mean.
        """
        return tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch_size)

    def _key(self, step: tf.Tensor, purpose: int) -> tf.Tensor:
        """The stateless RNG seed of one (seed, step, purpose)."""
        key = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(step, tf.int64)])
        return tf.random.experimental.stateless_fold_in(key, purpose)

    def _latents(self, step: tf.Tensor, purpose: int, batch: tf.Tensor) -> tf.Tensor:
        """This replica's rows of latents drawn for the whole global batch."""
        latents = tf.random.stateless_normal(
            [self.global_batch_size, self.latent_dim], seed=self._key(step, purpose)
        )
        return self._replica_rows(latents, batch)

    def _augment_draws(self, step: tf.Tensor, purpose: int, batch: tf.Tensor) -> tuple:
        """This replica's rows of DiffAugment (parameters, ADA gates) drawn for the whole global
        batch; the gates are None without ADA."""
        key = self._key(step, purpose)
        params = draw_augment_params(self.augment_policy, self.global_batch_size, key)
        rows = {name: self._replica_rows(values, batch) for name, values in params.items()}
        if self.augment_probability is None:
            return rows, None
        gates = draw_augment_gates(self.augment_policy, self.global_batch_size, key)
        return rows, {op: self._replica_rows(values, batch) for op, values in gates.items()}

    def _replica_rows(self, values: tf.Tensor, batch: tf.Tensor) -> tf.Tensor:
        """Rows [r·batch, (r+1)·batch) of a global-batch tensor, r this replica's index.

        `experimental_distribute_dataset` gives replica r the r-th slice of each global batch,
        so replica r's images meet the same draws as on one device.
        """
        context = tf.distribute.get_replica_context()
        replica = 0 if context is None else context.replica_id_in_sync_group
        start = tf.cast(replica, tf.int32) * batch
        return values[start : start + batch]


def _scale_loss(optimizer, loss: tf.Tensor) -> tf.Tensor:
    """Loss scaling of a `LossScaleOptimizer` (mixed precision); a no-op for other optimizers."""
    return optimizer.scale_loss(loss) if hasattr(optimizer, "scale_loss") else loss


# Momentum of the EMA generator's batch-norm statistics: they follow its averaged weights over
# the last ~10 steps. Keras's 0.99 would lag ~100 steps behind (and, updated once a step, still
# be 8 % the initial unit variance at step 250), washing out early samples.
_EMA_BATCH_NORM_MOMENTUM = 0.9


def _clone_for_ema(generator: keras.Model) -> keras.Model:
    """A copy of the generator's architecture holding a copy of its weights, with batch norms
    that track their statistics quickly."""
    clone = keras.models.clone_model(generator)
    clone.set_weights(generator.get_weights())
    for layer in clone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = _EMA_BATCH_NORM_MOMENTUM
    return clone
