"""Settings of the ingest job, as frozen dataclasses loaded from `configs/ingest.yaml`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from idphoto import config
from idphoto.faces.align import Framing


@dataclasses.dataclass(frozen=True)
class ImageLimits:
    """What a source file must satisfy before and after decoding."""

    max_file_bytes: int
    max_pixels: int
    min_side: int
    max_seconds_per_photo: float


@dataclasses.dataclass(frozen=True)
class FaceSettings:
    """How detected faces are filtered."""

    min_confidence: float
    dominance_ratio: float
    min_eye_distance: float
    detect_max_side: int


@dataclasses.dataclass(frozen=True)
class DedupSettings:
    """Perceptual near-duplicate detection."""

    hash_size: int
    max_distance: int


@dataclasses.dataclass(frozen=True)
class SplitSettings:
    """Deterministic held-out split."""

    holdout_percent: float
    salt: str


@dataclasses.dataclass(frozen=True)
class OutputSettings:
    """Names and sharding of the written dataset."""

    dataset_name: str
    num_shards: int


@dataclasses.dataclass(frozen=True)
class IngestConfig:
    """Everything the ingest job reads from `configs/ingest.yaml` (no defaults here: the file is
    the one source of the values)."""

    allowed_schemes: tuple[str, ...]
    image: ImageLimits
    faces: FaceSettings
    align: Framing
    dedup: DedupSettings
    split: SplitSettings
    output: OutputSettings


def default_path() -> Path:
    """Returns the path of the project's ingest config."""
    return config.config_dir() / "ingest.yaml"


def load_ingest_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> IngestConfig:
    """Loads the ingest config (the project's default when `path` is None)."""
    return config.load(IngestConfig, path or default_path(), overrides)
