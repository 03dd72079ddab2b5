"""Generator and discriminator builders: plain functional Keras models that save as `.keras`.

Three architectures, chosen by `ModelConfig.architecture`:

- `seed_dcgan`: exactly the TensorFlow DCGAN tutorial's networks (28×28 grayscale), the smoke
  test of the pipeline (https://www.tensorflow.org/tutorials/generative/dcgan).
- `dcgan`: DCGAN-style networks for any power-of-two resolution from 32 up (Radford et al. 2015,
  https://arxiv.org/abs/1511.06434), with filters doubling as resolution halves, up to a cap.
- `fastgan`: FastGAN (Liu et al. 2021, https://arxiv.org/abs/2101.04775) for few-shot data:
  skip-layer excitation in the generator, a discriminator that also reconstructs real images
  (`idphoto.models.fastgan`).

Every generator maps a float32 latent vector to float32 images in [-1, 1]; every discriminator
returns one float32 logit per image (fastgan's adds the feature maps its auxiliary loss reads,
see `build_auxiliary`).
"""

from __future__ import annotations

import math

import keras
from keras import layers

from idphoto.models.config import ModelConfig
from idphoto.models.fastgan import (
    ReconstructionHead,
    build_fastgan_discriminator,
    build_fastgan_generator,
    build_reconstruction_decoders,
)

ARCHITECTURES = ("seed_dcgan", "dcgan", "fastgan")

_SEED_RESOLUTION = 28
_SEED_CHANNELS = 1
_DCGAN_START = 4  # side of the generator's first feature map and the discriminator's last


def build_generator(cfg: ModelConfig) -> keras.Model:
    """Builds the generator named by `cfg.architecture`.

    Args:
        cfg: the model settings.

    Returns:
        A functional model named "generator": (latent_dim,) float32 → (R, R, C) float32 in [-1, 1].

    Raises:
        ValueError: a setting the architecture cannot use; the message names the key.
    """
    _check(cfg)
    if cfg.architecture == "seed_dcgan":
        return _seed_generator(cfg)
    if cfg.architecture == "fastgan":
        return build_fastgan_generator(cfg)
    return _dcgan_generator(cfg)


def build_discriminator(cfg: ModelConfig) -> keras.Model:
    """Builds the discriminator named by `cfg.architecture`.

    Args:
        cfg: the model settings.

    Returns:
        A functional model named "discriminator": (R, R, C) float32 → (1,) float32 logits
        (fastgan: [logits, 8×8 features, 16×16 features]).

    Raises:
        ValueError: a setting the architecture cannot use; the message names the key.
    """
    _check(cfg)
    if cfg.architecture == "seed_dcgan":
        return _seed_discriminator(cfg)
    if cfg.architecture == "fastgan":
        return build_fastgan_discriminator(cfg)
    return _dcgan_discriminator(cfg)


def build_auxiliary(cfg: ModelConfig) -> keras.layers.Layer | None:
    """The auxiliary discriminator loss the architecture trains with, or None.

    Args:
        cfg: the model settings.

    Returns:
        fastgan: its self-supervised `ReconstructionHead`; other architectures: None.
    """
    _check(cfg)
    if cfg.architecture == "fastgan":
        return ReconstructionHead(build_reconstruction_decoders(cfg))
    return None


def _check(cfg: ModelConfig) -> None:
    """Rejects settings the chosen architecture cannot build, naming the key."""
    if cfg.architecture not in ARCHITECTURES:
        raise ValueError(
            f"model.architecture must be one of {', '.join(ARCHITECTURES)}, "
            f"got {cfg.architecture!r}"
        )
    if cfg.latent_dim < 1:
        raise ValueError(f"model.latent_dim must be positive, got {cfg.latent_dim}")
    if cfg.architecture == "seed_dcgan":
        # The tutorial's layers are fixed: 7×7 → 14×14 → 28×28, one channel.
        if cfg.resolution != _SEED_RESOLUTION:
            raise ValueError(
                f"model.resolution must be {_SEED_RESOLUTION} for seed_dcgan, got {cfg.resolution}"
            )
        if cfg.channels != _SEED_CHANNELS:
            raise ValueError(
                f"model.channels must be {_SEED_CHANNELS} for seed_dcgan, got {cfg.channels}"
            )
        return
    if cfg.resolution < 32 or cfg.resolution & (cfg.resolution - 1):
        raise ValueError(
            f"model.resolution must be a power of two of at least 32 for {cfg.architecture}, "
            f"got {cfg.resolution}"
        )
    if cfg.channels not in (1, 3):
        raise ValueError(f"model.channels must be 1 or 3, got {cfg.channels}")
    if cfg.base_filters < 1:
        raise ValueError(f"model.base_filters must be positive, got {cfg.base_filters}")
    if cfg.max_filters < cfg.base_filters:
        raise ValueError(
            f"model.max_filters ({cfg.max_filters}) must be at least "
            f"model.base_filters ({cfg.base_filters})"
        )


def _batch_norm(cfg: ModelConfig) -> layers.BatchNormalization:
    # Synchronized: statistics over the global batch, so N replicas train like one device.
    return layers.BatchNormalization(synchronized=cfg.synchronized_batch_norm)


def _seed_generator(cfg: ModelConfig) -> keras.Model:
    """The tutorial generator: Dense 7·7·256 → Conv2DTranspose 128, 64, 1 (5×5)."""
    z = keras.Input((cfg.latent_dim,), dtype="float32", name="z")
    x = layers.Dense(7 * 7 * 256, use_bias=False)(z)
    x = _batch_norm(cfg)(x)
    x = layers.LeakyReLU()(x)
    x = layers.Reshape((7, 7, 256))(x)
    x = layers.Conv2DTranspose(128, 5, strides=1, padding="same", use_bias=False)(x)
    x = _batch_norm(cfg)(x)
    x = layers.LeakyReLU()(x)
    x = layers.Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False)(x)
    x = _batch_norm(cfg)(x)
    x = layers.LeakyReLU()(x)
    # float32 output even under mixed precision: tanh saturates early in float16.
    images = layers.Conv2DTranspose(
        _SEED_CHANNELS,
        5,
        strides=2,
        padding="same",
        use_bias=False,
        activation="tanh",
        dtype="float32",
    )(x)
    return keras.Model(z, images, name="generator")


def _seed_discriminator(cfg: ModelConfig) -> keras.Model:
    """The tutorial discriminator: Conv2D 64, 128 (5×5, stride 2) with dropout → Dense(1)."""
    images = keras.Input((_SEED_RESOLUTION, _SEED_RESOLUTION, _SEED_CHANNELS), dtype="float32")
    x = layers.Conv2D(64, 5, strides=2, padding="same")(images)
    x = layers.LeakyReLU()(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Conv2D(128, 5, strides=2, padding="same")(x)
    x = layers.LeakyReLU()(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Flatten()(x)
    logits = layers.Dense(1, dtype="float32")(x)
    return keras.Model(images, logits, name="discriminator")


def _filters(cfg: ModelConfig, side: int) -> int:
    """Filters of a feature map `side` pixels wide: base_filters at full resolution, doubling
    each time the side halves, capped at max_filters."""
    return min(cfg.max_filters, cfg.base_filters * (cfg.resolution // side))


def _dcgan_generator(cfg: ModelConfig) -> keras.Model:
    """Dense → 4×4 map → [Conv2DTranspose(4, stride 2) → BN → ReLU] up to R → Conv2D(3) tanh."""
    z = keras.Input((cfg.latent_dim,), dtype="float32", name="z")
    start_filters = _filters(cfg, _DCGAN_START)
    # No biases before batch norm: its beta already adds one.
    x = layers.Dense(_DCGAN_START * _DCGAN_START * start_filters, use_bias=False)(z)
    x = _batch_norm(cfg)(x)
    x = layers.ReLU()(x)
    x = layers.Reshape((_DCGAN_START, _DCGAN_START, start_filters))(x)
    for doubling in range(int(math.log2(cfg.resolution // _DCGAN_START))):
        side = _DCGAN_START * 2 ** (doubling + 1)
        x = layers.Conv2DTranspose(
            _filters(cfg, side), 4, strides=2, padding="same", use_bias=False
        )(x)
        x = _batch_norm(cfg)(x)
        x = layers.ReLU()(x)
    # float32 output even under mixed precision: tanh saturates early in float16.
    images = layers.Conv2D(cfg.channels, 3, padding="same", activation="tanh", dtype="float32")(x)
    return keras.Model(z, images, name="generator")


def _dcgan_discriminator(cfg: ModelConfig) -> keras.Model:
    """[Conv2D(4, stride 2) → LeakyReLU(0.2)] from R down to 4×4 → Dense(1) logits.

    No batch norm: it mixes the examples of a batch, so the R1 penalty's gradient of one
    example's logit would depend on the others (R1 and per-example losses assume independent
    examples; Mescheder et al. 2018, https://arxiv.org/abs/1801.04406), and real and fake
    batches would be normalised with different statistics.
    """
    images = keras.Input((cfg.resolution, cfg.resolution, cfg.channels), dtype="float32")
    x = images
    side = cfg.resolution
    while side > _DCGAN_START:
        side //= 2
        # Filters mirror the generator: base_filters after the first (full-resolution) conv.
        x = layers.Conv2D(_filters(cfg, 2 * side), 4, strides=2, padding="same")(x)
        x = layers.LeakyReLU(negative_slope=0.2)(x)
    x = layers.Flatten()(x)
    logits = layers.Dense(1, dtype="float32")(x)
    return keras.Model(images, logits, name="discriminator")
