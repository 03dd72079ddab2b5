"""Settings of the GAN itself: architecture, loss, EMA and augmentation.

Part of a training config (`configs/train/*.yaml`, see `idphoto.training.config`); kept beside
the models that read them, so a reader of a builder finds its settings next door.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from idphoto.config import bounded


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Generator and discriminator architecture."""

    architecture: Literal["seed_dcgan", "dcgan", "fastgan"]
    resolution: int  # side of the square images the generator makes
    channels: Literal[1, 3]
    latent_dim: int = bounded(at_least=1)
    base_filters: int = bounded(at_least=1)  # filters at full resolution (dcgan, fastgan)
    max_filters: int = bounded(at_least=1)  # cap on filters as resolution shrinks
    synchronized_batch_norm: bool  # batch statistics over all replicas, not per replica


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Adversarial loss and regularisation."""

    kind: Literal["non_saturating", "hinge"]
    r1_gamma: float = bounded(at_least=0)  # weight of the R1 penalty on real images; 0: off


@dataclasses.dataclass(frozen=True)
class EmaConfig:
    """Exponential moving average of generator weights, used for sampling and export."""

    enabled: bool
    decay: float = bounded(at_least=0, below=1)


@dataclasses.dataclass(frozen=True)
class AdaptiveAugmentConfig:
    """ADA's adaptive augmentation probability (Karras et al. 2020,
    https://arxiv.org/abs/2006.06676): each op of the policy is applied to each image with
    probability p, and p follows the discriminator's overfitting."""

    enabled: bool  # false: every op is applied to every image (plain DiffAugment)
    # wanted E[sign(D(real))]; above it p rises, below it p falls (paper: 0.6)
    target: float = bounded(at_least=0, at_most=1)
    interval: int = bounded(at_least=1)  # steps between updates of p; the heuristic averages
    # images seen for p to go from 0 to 1 at the steepest (paper: 500k)
    images_to_full: int = bounded(at_least=1)
    initial_p: float = bounded(at_least=0, at_most=1)


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """DiffAugment (Zhao et al. 2020) applied to real and fake images seen by the discriminator."""

    policy: tuple[Literal["color", "translation", "cutout"], ...]
    adaptive: AdaptiveAugmentConfig
