"""Quality metrics during training: SWD against held-out photos and the ID-compliance rate."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from idphoto.data.ingest_config import IngestConfig
from idphoto.faces.compliance import id_compliance, load_compliance_tolerances
from idphoto.faces.detect import FaceDetector
from idphoto.training.callbacks import to_uint8
from idphoto.training.config import TrainConfig
from idphoto.training.swd import sliced_wasserstein_distance


class Evaluator:
    """Scores generated images against fixed sets of real photos.

    `swd` compares generated images with a fixed sample of the training photos (the held-out
    split of a licence-filtered dataset is often too small for a stable estimate);
    `swd_heldout` compares them with the held-out photos, and `swd_floor` is the distance
    between those two real sets: what a generator of new photos from the same distribution
    would score. Latents are drawn from a fixed seed, so scores at different steps compare the
    same inputs. ID compliance is judged against the framing the training photos were aligned
    with (the dataset's ingest config), not against today's `configs/ingest.yaml`.

    Args:
        cfg: the training config.
        reference: training photos, uint8 (N, R, R, C).
        held_out: held-out photos, uint8 (M, R, R, C); M may be 0.
        ingest: the ingest config the dataset was made with.
    """

    def __init__(
        self, cfg: TrainConfig, reference: np.ndarray, held_out: np.ndarray, ingest: IngestConfig
    ):
        self._cfg = cfg
        self._reference = reference
        self._held_out = held_out
        self._framing = ingest.align
        self._tolerances = load_compliance_tolerances()
        self._detector = FaceDetector(ingest.faces.detect_max_side)
        count = max(cfg.metrics.swd_samples, cfg.metrics.compliance_samples)
        rng = np.random.default_rng(cfg.runtime.seed + 1)
        self._latents = rng.standard_normal((count, cfg.model.latent_dim)).astype(np.float32)

    def reference(self) -> dict[str, float]:
        """What real photos score: the SWD floor (held-out vs training photos) and the
        ID-compliance rate of the held-out photos (of the training ones without a held-out
        split)."""
        real = self._held_out if len(self._held_out) else self._reference
        report = id_compliance(
            real[: self._cfg.metrics.compliance_samples],
            self._detector,
            self._framing,
            self._tolerances,
        )
        metrics = {"id_compliance": report.rate}
        if len(self._held_out) and len(self._reference):
            metrics["swd_floor"] = self._swd(self._held_out).mean
        return metrics

    def __call__(self, generate: Callable[[np.ndarray], object]) -> dict[str, float]:
        """Generates images from the fixed latents and scores them."""
        fake = np.concatenate(
            [
                to_uint8(generate(batch))
                for batch in np.array_split(self._latents, max(1, len(self._latents) // 64))
            ]
        )
        metrics: dict[str, float] = {}
        swd_fake = fake[: self._cfg.metrics.swd_samples]
        if len(self._reference):
            swd = self._swd(swd_fake)
            metrics["swd"] = swd.mean
            metrics.update(
                {f"swd_{r}px": v for r, v in zip(swd.resolutions, swd.per_level, strict=True)}
            )
        if len(self._held_out):
            metrics["swd_heldout"] = self._swd(swd_fake, against=self._held_out).mean
        compliance = id_compliance(
            fake[: self._cfg.metrics.compliance_samples],
            self._detector,
            self._framing,
            self._tolerances,
        )
        metrics["id_compliance"] = compliance.rate
        return metrics

    def _swd(self, images: np.ndarray, against: np.ndarray | None = None):
        real = self._reference if against is None else against
        return sliced_wasserstein_distance(real, images, seed=self._cfg.runtime.seed)
