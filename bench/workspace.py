"""Benchmark sizes, and the data the stages share: generated photos, manifests, an ingested
dataset and an MLflow store, all in one scratch folder and built on first use.

Nothing is downloaded: the photos come from the sample-data generator
(`idphoto.sample_data.manifest.write_sample_dataset`) at a larger `n`.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import os
import re
import time
from pathlib import Path

_LOG = logging.getLogger(__name__)

# Only these photos go into benchmark manifests, so that the job accepts every row and the
# bare-loop baseline does the same work on the same photos: synthetic portraits (the generator's
# byte-identical and re-encoded copies would be dropped as duplicates) with landmarks, consent,
# and a public-domain licence, which every use allows.
_SYNTHETIC_ID = re.compile(r"synthetic-\d+")
_ACCEPTED_CLASS = "public-domain"
_USE = "research"
_MIN_TRAIN_PHOTOS = 64  # two global batches of 32 after the 10 % held out
_QUALITY_PORTRAITS = 2000  # the Makefile's SAMPLE_N: the demo's data
_MIN_QUALITY_PORTRAITS = 300


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How much work each stage does; `from_scale(1)` is `make bench`'s default."""

    scale: float
    ingest_photos: int  # photos of the throughput runs; the peak-RSS runs use 1/10 and all
    detector_photos: int  # photos of the runs with and without landmarks
    train_photos: int  # photos ingested for the training runs
    train_log_every: int  # steps per `idphoto train` progress line (one rate per line)
    train_intervals: int  # progress lines timed after the first (which includes compilation)
    generate_photos: int  # photos of one `generate_photos` call
    generate_batch: int  # photos per generator call
    photo_side: int = 256  # side of the generated sample portraits the ingest stage reads, px

    @classmethod
    def from_scale(cls, scale: float, photo_side: int = 256) -> Sizes:
        """Sizes for a scale multiplier (0.1: a smoke run in minutes; 4: four times the work)
        and a side of the sample portraits (larger: more per-photo work for ingest)."""
        ingest = max(10, round(200 * scale))
        return cls(
            scale=scale,
            ingest_photos=ingest,
            detector_photos=max(5, ingest // 4),
            train_photos=max(_MIN_TRAIN_PHOTOS, ingest),
            train_log_every=max(3, round(4 * scale)),
            train_intervals=2,
            generate_photos=max(32, round(1000 * scale)),
            generate_batch=16,
            photo_side=photo_side,
        )

    @property
    def train_steps(self) -> int:
        """Steps of each `idphoto train` run: one warm-up interval plus the timed ones."""
        return self.train_log_every * (1 + self.train_intervals)


class Workspace:
    """A scratch folder holding what several stages use, each part built once on first use."""

    def __init__(self, root: str, sizes: Sizes):
        self.root = Path(root)
        self.sizes = sizes
        self._rows: list[dict] | None = None
        self._fields: list[str] | None = None
        self._ingested: str | None = None
        self._tracking_uri: str | None = None

    @property
    def photo_dir(self) -> Path:
        """The sample-data folder; benchmark manifests are written here, beside `images/`."""
        return self.root / "sample"

    def photo_rows(self) -> list[dict]:
        """Manifest rows of the photos every use accepts, enough for the largest manifest."""
        if self._rows is None:
            self._rows = self._draw(max(self.sizes.ingest_photos, self.sizes.train_photos))
        return self._rows

    def manifest(self, name: str, count: int, landmarks: bool = True) -> str:
        """Writes a manifest of the first `count` accepted photos and returns its path.

        Args:
            name: the manifest's file name without extension.
            count: how many photos (rows).
            landmarks: keep the true landmarks; without them the job runs the face detector.
        """
        rows = self.photo_rows()
        if count > len(rows):
            raise ValueError(f"{count} photos asked for, {len(rows)} generated")
        path = self.photo_dir / f"{name}.csv"
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self._fields)
            writer.writeheader()
            writer.writerows(r if landmarks else {**r, "landmarks": ""} for r in rows[:count])
        return str(path)

    def ingested(self) -> str:
        """An ingest output of `sizes.train_photos` photos, for the training stage."""
        if self._ingested is None:
            from pipelines import ingest

            out = str(self.root / "ingested")
            manifest = self.manifest("train", self.sizes.train_photos)
            started = time.monotonic()
            ingest.run(["--manifest", manifest, "--out", out, "--overwrite", "--use", _USE])
            _LOG.info("ingested %d photos in %.0f s", self.sizes.train_photos, _since(started))
            self._ingested = out
        return self._ingested

    def quality_dataset(self) -> str:
        """The demo's data at this scale: sample portraits with their whole licence mix and
        duplicates, ingested for commercial use, for the quality stage."""
        from idphoto.sample_data import manifest as sample
        from pipelines import ingest

        count = max(_MIN_QUALITY_PORTRAITS, round(_QUALITY_PORTRAITS * self.sizes.scale))
        started = time.monotonic()
        manifest = sample.write_sample_dataset(
            str(self.root / "quality-sample"), count, seed=0, overwrite=True
        )
        out = str(self.root / "quality-ingested")
        ingest.run(["--manifest", manifest, "--out", out, "--overwrite", "--use", "commercial"])
        _LOG.info("quality data: %d portraits drawn and ingested in %.0f s", count, _since(started))
        return out

    def ingested_splits(self) -> dict[str, int]:
        """Examples per split of `ingested()`, from its ingest report."""
        from idphoto.data.dataset import open_ingested

        return open_ingested(self.ingested()).splits

    def signing_keys(self) -> str:
        """A key folder of its own for the photos the bench generates (made on first use)."""
        folder = self.root / "keys"
        if not folder.exists():
            from idphoto.generation.signing_keys import init_keys

            init_keys(folder, "idphoto bench signer")
        return str(folder)

    def tracking_uri(self) -> str:
        """A SQLite MLflow store of its own, whose `idphoto` experiment keeps artifacts here.

        Creating the experiment up front keeps MLflow's default artifact folder (`./mlruns`
        under the working folder) out of the checkout.
        """
        if self._tracking_uri is None:
            from mlflow.tracking import MlflowClient

            uri = f"sqlite:///{self.root / 'mlflow.db'}"
            client = MlflowClient(uri)
            for experiment in ("idphoto", "bench-generate"):
                client.create_experiment(
                    experiment, artifact_location=(self.root / "mlartifacts" / experiment).as_uri()
                )
            self._tracking_uri = uri
        return self._tracking_uri

    def _draw(self, count: int) -> list[dict]:
        """Draws enough sample portraits for `count` accepted ones and returns their rows."""
        from idphoto.licences import load_policy
        from idphoto.sample_data import manifest as sample

        draw = math.ceil(count / _accepted_share()) + len(_licence_cycle())
        started = time.monotonic()
        manifest = sample.write_sample_dataset(
            str(self.photo_dir), draw, seed=0, size=self.sizes.photo_side, overwrite=True
        )
        _LOG.info("drew %d sample portraits in %.0f s", draw, _since(started))
        with open(manifest, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            self._fields = list(reader.fieldnames or ())
            policy = load_policy()
            rows = [row for row in reader if _always_accepted(row, policy)]
        if len(rows) < count:
            raise RuntimeError(f"{len(rows)} accepted photos among {draw} drawn; {count} needed")
        return rows[:count]


def _licence_cycle() -> tuple[tuple[str, str], ...]:
    from idphoto.sample_data import manifest as sample

    # The sample generator cycles its synthetic portraits through this licence mix.
    return sample._LICENCE_MIX


def _accepted_share() -> float:
    from idphoto.licences import load_policy

    policy = load_policy()
    kept = sum(_every_use_allows(policy, licence, consent) for licence, consent in _licence_cycle())
    return kept / len(_licence_cycle())


def _always_accepted(row: dict, policy) -> bool:
    return (
        bool(_SYNTHETIC_ID.fullmatch(row["id"]))
        and bool(row["landmarks"].strip())
        and _every_use_allows(policy, row["licence"], row["consent"])
    )


def _every_use_allows(policy, licence: str, consent: str) -> bool:
    """A public-domain licence with consent given: every use accepts the photo."""
    from idphoto.data.manifest import parse_consent

    decision = policy.judge(licence, _USE, True)
    return (
        parse_consent(consent) is True
        and decision.allowed
        and decision.licence_class == _ACCEPTED_CLASS
    )


def _since(started: float) -> float:
    return time.monotonic() - started


def scratch_root(workdir: str | None) -> str:
    """The scratch folder: `workdir` when given (kept afterwards), else a new temp folder."""
    if workdir:
        os.makedirs(workdir, exist_ok=True)
        return workdir
    import tempfile

    return tempfile.mkdtemp(prefix="idphoto-bench-")
