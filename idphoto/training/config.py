"""Training settings: `configs/train/*.yaml` loaded into frozen dataclasses.

The YAML files hold every value (no defaults here), `--set key=value` overrides any of them, and
the resolved config is saved with every run and logged to MLflow as params.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

from idphoto import config


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Generator and discriminator architecture."""

    architecture: Literal["seed_dcgan", "dcgan", "fastgan"]
    resolution: int  # side of the square images the generator makes
    channels: Literal[1, 3]
    latent_dim: int
    base_filters: int  # filters of the highest-resolution conv layer (dcgan, fastgan)
    max_filters: int  # cap on filters as resolution shrinks (dcgan, fastgan)
    synchronized_batch_norm: bool  # batch statistics over all replicas, not per replica


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Adversarial loss and regularisation."""

    kind: Literal["non_saturating", "hinge"]
    r1_gamma: float  # weight of the R1 gradient penalty on real images; 0 turns it off


@dataclasses.dataclass(frozen=True)
class AdamConfig:
    """Adam settings of one network."""

    learning_rate: float
    beta_1: float
    beta_2: float


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """One Adam optimizer per network."""

    generator: AdamConfig
    discriminator: AdamConfig


@dataclasses.dataclass(frozen=True)
class EmaConfig:
    """Exponential moving average of generator weights, used for sampling and export."""

    enabled: bool
    decay: float


@dataclasses.dataclass(frozen=True)
class AdaptiveAugmentConfig:
    """ADA's adaptive augmentation probability (Karras et al. 2020,
    https://arxiv.org/abs/2006.06676): each op of the policy is applied to each image with
    probability p, and p follows the discriminator's overfitting."""

    enabled: bool  # false: every op is applied to every image (plain DiffAugment)
    target: float  # wanted E[sign(D(real))]; above it p rises, below it p falls (paper: 0.6)
    interval: int  # steps between updates of p; the heuristic averages over them
    images_to_full: int  # images seen for p to go from 0 to 1 at the steepest (paper: 500k)
    initial_p: float


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """DiffAugment (Zhao et al. 2020) applied to real and fake images seen by the discriminator."""

    policy: tuple[Literal["color", "translation", "cutout"], ...]
    adaptive: AdaptiveAugmentConfig


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Input pipeline."""

    batch_size_per_replica: int
    mirror: bool  # random horizontal flips
    shuffle_buffer: int


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    """How long to train and how often to do the side work (in steps)."""

    steps: int
    log_every: int
    sample_every: int
    checkpoint_every: int
    eval_every: int
    keep_checkpoints: int


@dataclasses.dataclass(frozen=True)
class MetricsConfig:
    """Quality metrics computed during training."""

    swd_samples: int  # generated and real images compared by sliced Wasserstein distance
    compliance_samples: int  # generated images checked for ID-photo framing


@dataclasses.dataclass(frozen=True)
class RuntimeConfig:
    """Devices, precision and reproducibility."""

    seed: int
    deterministic: bool  # enable TensorFlow op determinism (slower, bit-identical reruns)
    precision: Literal["auto", "float32", "mixed_float16"]  # auto: mixed_float16 on GPUs
    gpus: tuple[int, ...]  # GPU indices to use; empty means every visible GPU
    cpu_devices: int  # without GPUs, split the CPU into this many logical devices (replicas)


@dataclasses.dataclass(frozen=True)
class TrackingConfig:
    """MLflow names."""

    experiment: str
    model_name: str


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a training run reads from its YAML file."""

    name: str  # short name of the config, first part of run names
    model: ModelConfig
    loss: LossConfig
    optimizer: OptimizerConfig
    ema: EmaConfig
    augment: AugmentConfig
    data: DataConfig
    schedule: ScheduleConfig
    metrics: MetricsConfig
    runtime: RuntimeConfig
    tracking: TrackingConfig


def train_config_dir() -> Path:
    """Returns the folder of the project's training configs."""
    return config.config_dir() / "train"


def load_train_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Loads a training config and applies `--set` overrides."""
    return config.load(TrainConfig, path, overrides)
