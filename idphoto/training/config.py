"""Training settings: `configs/train/*.yaml` loaded into frozen dataclasses.

The YAML files hold every value (no defaults here), `--set key=value` overrides any of them, and
the resolved config is saved with every run and logged to MLflow as params.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Literal

from idphoto import config
from idphoto.config import bounded
from idphoto.models.config import AugmentConfig, EmaConfig, LossConfig, ModelConfig


@dataclasses.dataclass(frozen=True)
class AdamConfig:
    """Adam settings of one network."""

    learning_rate: float = bounded(above=0)
    beta_1: float = bounded(at_least=0, below=1)
    beta_2: float = bounded(at_least=0, below=1)


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """One Adam optimizer per network."""

    generator: AdamConfig
    discriminator: AdamConfig


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Input pipeline."""

    batch_size_per_replica: int = bounded(at_least=1)
    mirror: bool  # random horizontal flips
    shuffle_buffer: int = bounded(at_least=1)


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    """How long to train and how often to do the side work (in steps)."""

    steps: int = bounded(at_least=1)
    log_every: int = bounded(at_least=1)
    sample_every: int = bounded(at_least=1)
    checkpoint_every: int = bounded(at_least=1)
    eval_every: int = bounded(at_least=1)
    keep_checkpoints: int = bounded(at_least=1)


@dataclasses.dataclass(frozen=True)
class MetricsConfig:
    """Quality metrics computed during training."""

    # generated and real images compared by sliced Wasserstein distance
    swd_samples: int = bounded(at_least=1)
    compliance_samples: int = bounded(at_least=1)  # generated images checked for ID framing


@dataclasses.dataclass(frozen=True)
class RuntimeConfig:
    """Devices, precision and reproducibility."""

    seed: int
    deterministic: bool  # enable TensorFlow op determinism (slower, bit-identical reruns)
    precision: Literal["auto", "float32", "mixed_float16"]  # auto: mixed_float16 on GPUs
    gpus: tuple[int, ...]  # GPU indices to use; empty means every visible GPU
    # without GPUs, split the CPU into this many logical devices (replicas)
    cpu_devices: int = bounded(at_least=1)


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


# The config `idphoto train`, `make train` and `make demo` use when none is named: the one that
# passes the default promotion gates on CPU (the quality benchmark measures when).
DEFAULT_TRAIN_CONFIG = "fastgan64"


def train_config_dir() -> Path:
    """Returns the folder of the project's training configs."""
    return config.config_dir() / "train"


def resolve_train_config(name_or_path: str) -> Path:
    """A config file given by path, or by the name of one the project ships (`fastgan64`).

    Raises:
        ConfigError: neither a file nor a shipped config's name; the message lists the names.
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = train_config_dir() / f"{name_or_path}.yaml"
    if os.sep not in name_or_path and path.suffix == "" and shipped.is_file():
        return shipped
    names = ", ".join(sorted(p.stem for p in train_config_dir().glob("*.yaml")))
    raise config.ConfigError(
        f"training config {name_or_path} is neither a file nor a shipped config ({names})"
    )


def load_train_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Loads a training config and applies `--set` overrides."""
    return config.load(TrainConfig, path, overrides)
