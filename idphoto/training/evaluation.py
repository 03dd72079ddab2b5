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
    """Scores generated images against a fixed set of real held-out photos.

    Latents are drawn from a fixed seed, so scores at different steps compare the same inputs.
    ID compliance is judged against the framing the training photos were aligned with (the
    dataset's ingest config), not against today's `configs/ingest.yaml`.

    Args:
        cfg: the training config.
        real_images: held-out photos, uint8 (N, R, R, C).
        ingest: the ingest config the dataset was made with.
    """

    def __init__(self, cfg: TrainConfig, real_images: np.ndarray, ingest: IngestConfig):
        self._cfg = cfg
        self._real = real_images
        self._framing = ingest.align
        self._tolerances = load_compliance_tolerances()
        self._detector = FaceDetector(ingest.faces.detect_max_side)
        count = max(cfg.metrics.swd_samples, cfg.metrics.compliance_samples)
        rng = np.random.default_rng(cfg.runtime.seed + 1)
        self._latents = rng.standard_normal((count, cfg.model.latent_dim)).astype(np.float32)

    def reference(self) -> dict[str, float]:
        """The ID-compliance rate of the real held-out photos: what a perfect generator scores."""
        report = id_compliance(self._real, self._detector, self._framing, self._tolerances)
        return {"id_compliance": report.rate}

    def __call__(self, generate: Callable[[np.ndarray], object]) -> dict[str, float]:
        """Generates images from the fixed latents and scores them."""
        fake = np.concatenate(
            [
                to_uint8(generate(batch))
                for batch in np.array_split(self._latents, max(1, len(self._latents) // 64))
            ]
        )
        metrics: dict[str, float] = {}
        if len(self._real):
            swd = sliced_wasserstein_distance(
                self._real, fake[: self._cfg.metrics.swd_samples], seed=self._cfg.runtime.seed
            )
            metrics["swd"] = swd.mean
            metrics.update(
                {f"swd_{r}px": v for r, v in zip(swd.resolutions, swd.per_level, strict=True)}
            )
        compliance = id_compliance(
            fake[: self._cfg.metrics.compliance_samples],
            self._detector,
            self._framing,
            self._tolerances,
        )
        metrics["id_compliance"] = compliance.rate
        return metrics
