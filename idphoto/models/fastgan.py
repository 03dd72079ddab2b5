"""FastGAN: a generator and discriminator that learn from a few hundred photos in few steps.

Liu et al. 2021, "Towards Faster and Stabilized GAN Training for High-fidelity Few-shot Image
Synthesis" (https://arxiv.org/abs/2101.04775), scaled down to 32-128 px:

- Generator: a 4×4 map from the latent by a transposed convolution, then up-sampling blocks
  [nearest ×2 → Conv 3×3 → batch norm → GLU]. Skip-layer excitation (SLE, paper §3.1) gates
  the channels of every map of side ≥ 32 by a vector computed from the map 8× smaller: a
  cheap, shape-independent long-range skip that gives gradients a short path to the early
  layers. (At 1024 px the paper excites each map from the one 16× smaller; at 64 px that
  leaves one pair, so we use 8×: 4→32 and 8→64.)
- Discriminator: residual down-sampling blocks (paper fig. 4: a strided path and an
  average-pool path, summed) and one logit per image. Batch norm is left out (the paper has
  it): it would mix the examples of a batch, and the R1 penalty and the two-replica equality
  of `GAN` need per-example outputs.
- Self-supervised reconstruction (paper §3.2): the discriminator is also an encoder. Two small
  decoders rebuild, from its 8×8 features, the whole real image and, from a random quadrant of
  its 16×16 features, the matching quadrant of the image. Only real images are decoded. This
  forces the discriminator to keep features that describe the whole image, not just the few
  cues that separate real from fake, which is what keeps it from overfitting a small set.
  The paper uses a perceptual (LPIPS) distance; we have no pretrained network on a CPU-only,
  offline machine, so the distance is the mean absolute pixel error.

Builders return plain functional Keras models of standard layers (they save as `.keras` in
safe mode). The generator maps a float32 latent to float32 images in [-1, 1]; the
discriminator returns `[logits (B, 1), features_8 (B, 8, 8, C), features_16 (B, 16, 16, C)]`,
and `ReconstructionHead` turns the features into the per-example auxiliary loss.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import layers

from idphoto.models.config import ModelConfig

_START = 4  # side of the generator's first map and the discriminator's last
_SLE_RATIO = 8  # a map of side s is excited by the map of side s / 8
_SLE_MIN_SOURCE = 4  # ... when that map exists (side ≥ 4)
_DECODED_SIDES = (8, 16)  # discriminator feature maps the decoders read


def build_fastgan_generator(cfg: ModelConfig) -> keras.Model:
    """The FastGAN generator: (latent_dim,) float32 → (R, R, C) float32 in [-1, 1]."""
    z = keras.Input((cfg.latent_dim,), dtype="float32", name="z")
    x = layers.Reshape((1, 1, cfg.latent_dim))(z)
    # 1×1 → 4×4 by a 4×4 transposed convolution, as the paper's initial layer.
    x = _gated(
        lambda: layers.Conv2DTranspose(_filters(cfg, _START), _START, use_bias=False),
        x,
        lambda: _batch_norm(cfg),
    )
    maps = {_START: x}
    side = _START
    while side < cfg.resolution:
        side *= 2
        x = _up_block(cfg, x, _filters(cfg, side))
        source = side // _SLE_RATIO
        if source >= _SLE_MIN_SOURCE:
            x = _skip_layer_excitation(maps[source], x)
        maps[side] = x
    # float32 output even under mixed precision: tanh saturates early in float16.
    images = layers.Conv2D(cfg.channels, 3, padding="same", activation="tanh", dtype="float32")(x)
    return keras.Model(z, images, name="generator")


def build_fastgan_discriminator(cfg: ModelConfig) -> keras.Model:
    """The FastGAN discriminator: (R, R, C) → [logits (B, 1), 8×8 features, 16×16 features]."""
    images = keras.Input((cfg.resolution, cfg.resolution, cfg.channels), dtype="float32")
    side = cfg.resolution // 2
    x = layers.Conv2D(_filters(cfg, side), 4, strides=2, padding="same")(images)
    x = layers.LeakyReLU(negative_slope=0.2)(x)
    features = {side: x}
    while side > _START:
        side //= 2
        x = _down_block(x, _filters(cfg, side))
        features[side] = x
    x = layers.Conv2D(_filters(cfg, _START), 1)(x)
    x = layers.LeakyReLU(negative_slope=0.2)(x)
    # One 4×4 valid convolution reads the whole 4×4 map: one logit per image.
    x = layers.Conv2D(1, _START, dtype="float32")(x)
    logits = layers.Flatten(dtype="float32", name="logits")(x)
    outputs = [logits, *(features[s] for s in _DECODED_SIDES)]
    return keras.Model(images, outputs, name="discriminator")


def build_reconstruction_decoders(cfg: ModelConfig) -> keras.Model:
    """The two decoders: [8×8 features, a quadrant (8×8) of the 16×16 features] → two
    (R/2, R/2, C) float32 images in [-1, 1]: the whole image and that quadrant."""
    inputs, outputs = [], []
    for side, name in zip(_DECODED_SIDES, ("whole", "quadrant"), strict=True):
        features = keras.Input((8, 8, _filters(cfg, side)), name=f"features_{side}")
        x = features
        for _ in range(int(math.log2(cfg.resolution // 2 // 8))):
            x = layers.UpSampling2D(2)(x)
            # Narrow (base_filters after the GLU): the decoders only need to be able to
            # rebuild a blurry image, and they cost time on every real batch.
            x = _gated(lambda: layers.Conv2D(cfg.base_filters, 3, padding="same"), x)
        outputs.append(
            layers.Conv2D(
                cfg.channels, 3, padding="same", activation="tanh", dtype="float32", name=name
            )(x)
        )
        inputs.append(features)
    return keras.Model(inputs, outputs, name="reconstruction")


class ReconstructionHead(keras.layers.Layer):
    """FastGAN's self-supervised auxiliary loss of the discriminator on real images.

    Held by `GAN` as its `auxiliary` hook: its weights train with the discriminator's, and its
    per-example loss is added to the discriminator's.

    Args:
        decoders: the model of `build_reconstruction_decoders`.
        weight: multiplies the reconstruction error (the paper adds it with weight 1).
    """

    loss_name = "reconstruction_loss"  # its metric's name

    def __init__(self, decoders: keras.Model, weight: float = 1.0, **kwargs):
        super().__init__(name="reconstruction_head", **kwargs)
        self.decoders = decoders
        self.weight = weight
        self.built = True

    def call(self, real_images: tf.Tensor, features: list, uniform: tf.Tensor) -> tf.Tensor:
        """Per-example reconstruction error.

        Args:
            real_images: (B, R, R, C) the real images the discriminator saw (augmented).
            features: the discriminator's [8×8, 16×16] feature maps of those images.
            uniform: (B,) uniform [0, 1) draws choosing each example's quadrant.

        Returns:
            (B,) float32 mean absolute error of the whole image plus that of the quadrant.
        """
        features_8, features_16 = features
        quadrant = tf.one_hot(tf.minimum(tf.cast(uniform * 4, tf.int32), 3), 4)  # (B, 4)
        crop = _select_quadrant(features_16, quadrant)
        whole, part = self.decoders([features_8, crop])
        real = tf.cast(real_images, tf.float32)
        # The whole image at the decoders' side (R/2): a 2×2 average, like an area resize.
        small = tf.nn.avg_pool2d(real, 2, 2, "VALID")
        target_part = _select_quadrant(real, quadrant)
        error = _mean_abs(whole, small) + _mean_abs(part, target_part)
        return self.weight * error


def _select_quadrant(maps: tf.Tensor, quadrant: tf.Tensor) -> tf.Tensor:
    """Each example's quadrant of (B, S, S, C) maps; `quadrant` is (B, 4) one-hot in the
    order top-left, top-right, bottom-left, bottom-right. A one-hot blend, not a gather: the
    examples of a batch take different quadrants and gradients flow to the chosen one."""
    half = maps.shape[1] // 2
    quadrants = tf.stack(
        [
            maps[:, :half, :half],
            maps[:, :half, half:],
            maps[:, half:, :half],
            maps[:, half:, half:],
        ],
        axis=1,
    )  # (B, 4, S/2, S/2, C)
    weights = tf.cast(tf.reshape(quadrant, [-1, 4, 1, 1, 1]), maps.dtype)
    return tf.reduce_sum(quadrants * weights, axis=1)


def _mean_abs(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.abs(tf.cast(a, tf.float32) - tf.cast(b, tf.float32)), axis=[1, 2, 3])


def _filters(cfg: ModelConfig, side: int) -> int:
    """Filters of a map `side` pixels wide: base_filters at full resolution, doubling each time
    the side halves, capped at max_filters."""
    return min(cfg.max_filters, cfg.base_filters * max(1, cfg.resolution // side))


def _batch_norm(cfg: ModelConfig) -> layers.BatchNormalization:
    # Synchronized: statistics over the global batch, so N replicas train like one device.
    return layers.BatchNormalization(synchronized=cfg.synchronized_batch_norm)


def _gated(make_conv, x, make_norm=None):
    """GLU (Dauphin et al. 2017, https://arxiv.org/abs/1612.08083), FastGAN's activation:
    conv(x) · sigmoid(conv'(x)), two convolutions of `filters` each.

    The paper computes one convolution of 2·filters and splits its channels; two convolutions
    are the same function, built from standard layers only, so the saved model loads in safe
    mode wherever Keras runs, without idphoto installed. Batch norm is per channel, so
    normalising each half on its own is also the same.
    """
    content, gate = make_conv()(x), make_conv()(x)
    if make_norm is not None:
        content, gate = make_norm()(content), make_norm()(gate)
    return layers.Multiply()([content, layers.Activation("sigmoid")(gate)])


def _up_block(cfg: ModelConfig, x, filters: int):
    """Nearest ×2 → Conv 3×3 → batch norm → GLU (filters)."""
    x = layers.UpSampling2D(2, interpolation="nearest")(x)
    return _gated(
        lambda: layers.Conv2D(filters, 3, padding="same", use_bias=False),
        x,
        lambda: _batch_norm(cfg),
    )


def _skip_layer_excitation(low, high):
    """SLE: high · sigmoid(Conv1×1(LeakyReLU(Conv4×4(pool₄(low))))), one gate per channel."""
    channels = high.shape[-1]
    pool = low.shape[1] // 4
    x = layers.AveragePooling2D(pool)(low) if pool > 1 else low
    x = layers.Conv2D(channels, 4)(x)  # 4×4 → 1×1
    x = layers.LeakyReLU(negative_slope=0.1)(x)
    gate = layers.Conv2D(channels, 1, activation="sigmoid")(x)
    return layers.Multiply()([high, gate])


def _down_block(x, filters: int):
    """Residual down-sampling: (strided path + average-pool path) / 2, no batch norm.

    Strided path: Conv 4×4 stride 2 → LeakyReLU → Conv 3×3 → LeakyReLU. Pool path:
    average-pool 2 → Conv 1×1 → LeakyReLU. Averaging keeps the sum's scale.
    """
    main = layers.Conv2D(filters, 4, strides=2, padding="same")(x)
    main = layers.LeakyReLU(negative_slope=0.2)(main)
    main = layers.Conv2D(filters, 3, padding="same")(main)
    main = layers.LeakyReLU(negative_slope=0.2)(main)
    direct = layers.AveragePooling2D(2)(x)
    direct = layers.Conv2D(filters, 1)(direct)
    direct = layers.LeakyReLU(negative_slope=0.2)(direct)
    return layers.Average()([main, direct])
