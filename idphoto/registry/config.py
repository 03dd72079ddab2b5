"""Promotion settings: `configs/promote/*.yaml` loaded into frozen dataclasses."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from idphoto import config


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
class LicenceConfig:
    """The policy every training row is judged against for the requested use."""

    policy: str


@dataclasses.dataclass(frozen=True)
class NearCopyConfig:
    """The search of generated samples against the training photos."""

    samples: int
    seed: int
    neighbours: int
    max_ratio: float  # nearest / mean next-neighbour distance below this is a near-copy
    chunk: int
    pairs_to_log: int


@dataclasses.dataclass(frozen=True)
class PromoteConfig:
    """Every promotion setting."""

    registry: RegistryConfig
    quality: QualityConfig
    licence: LicenceConfig
    near_copy: NearCopyConfig


DEFAULT = "configs/promote/default.yaml"


def load_promote_config(path: str | Path, overrides: dict[str, Any] | None = None):
    """Loads a promotion config and applies `--set` overrides; checks value ranges."""
    cfg = config.load(PromoteConfig, path, overrides)
    near = cfg.near_copy
    for key in ("samples", "neighbours", "chunk"):
        if getattr(near, key) < 1:
            raise config.ConfigError(f"'near_copy.{key}' must be at least 1")
    if near.pairs_to_log < 0:
        raise config.ConfigError("'near_copy.pairs_to_log' must be at least 0")
    if not 0.0 < near.max_ratio < 1.0:
        raise config.ConfigError("'near_copy.max_ratio' must be between 0 and 1")
    return cfg
