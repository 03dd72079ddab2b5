"""Promotion settings: `configs/promote/*.yaml` loaded into frozen dataclasses."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from idphoto import config
from idphoto.config import bounded


@dataclasses.dataclass(frozen=True)
class RegistryConfig:
    """Where promoted models go."""

    alias: str  # the alias a passing promotion moves, unless --alias names another


@dataclasses.dataclass(frozen=True)
class QualityConfig:
    """Thresholds on the run's last evaluation."""

    max_swd: float  # sliced Wasserstein distance (x1e3), lower is better
    min_id_compliance: float  # share of samples that pass the ID-framing checks
    beat_current: bool  # the swd must improve on the current alias holder's


@dataclasses.dataclass(frozen=True)
class NearCopyConfig:
    """The search of generated samples against the training photos."""

    samples: int = bounded(at_least=1)
    seed: int
    neighbours: int = bounded(at_least=1)
    # nearest / mean next-neighbour distance below this is a near-copy
    max_ratio: float = bounded(above=0, below=1)
    chunk: int = bounded(at_least=1)
    pairs_to_log: int = bounded(at_least=0)


@dataclasses.dataclass(frozen=True)
class PromoteConfig:
    """Every promotion setting."""

    registry: RegistryConfig
    quality: QualityConfig
    near_copy: NearCopyConfig


def default_path() -> Path:
    """The project's promotion gates (`configs/promote/default.yaml`)."""
    return config.config_dir() / "promote" / "default.yaml"


def load_promote_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None):
    """Loads a promotion config (the project's default when `path` is None) and applies
    `--set` overrides."""
    return config.load(PromoteConfig, path or default_path(), overrides)
