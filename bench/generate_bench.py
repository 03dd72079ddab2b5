"""Generation benchmark: `generate_photos` end to end against the raw generator on the same batches.

The model is a freshly built dcgan64 generator logged with `mlflow.keras.log_model` into the
bench's own MLflow store: untrained weights cost the same to run as trained ones. The value
includes everything a user waits for — resolving and loading the model, finding the face and
framing it into the preset's bands, the geometry check, the watermark, the visible mark, XMP
labelling, PNG encoding, signing and the manifest. Reported, not held to a target: the labels
stage (`bench.labels_bench`) times each of those steps and holds labelled generation to its
target.
"""

from __future__ import annotations

import logging
import os
import statistics
import time

import numpy as np

from bench.results import Measure, Record, guarded
from bench.workspace import Workspace

STAGE = "generate"
CONFIG = "configs/train/dcgan64.yaml"
PRESET = "passport-35x45"
# Report only since generation labels every photo: it finds the face three times (framing and
# the geometry check), watermarks and signs it, which costs far more than a small generator's
# call; the labels stage holds labelled generation to its target (all cores vs one).
PHOTOS = Measure(
    STAGE,
    "photos/s incl. model load, framing, checks, watermark, XMP and signing (passport-35x45)",
    "photos/s",
)
PORTRAIT_CONTENT = Measure(
    STAGE,
    "photos/s as above, with portrait content instead of the untrained output",
    "photos/s",
)
_PORTRAITS = 64  # distinct portraits cycled through as the stand-in output
_LOG = logging.getLogger(__name__)


def run(workspace: Workspace, repeats: int) -> list[Record]:
    """Runs the generation measures `repeats` times and returns their records."""
    return guarded((PHOTOS, PORTRAIT_CONTENT), lambda: _generate(workspace, repeats))


class PortraitOutput:
    """The generator, called as usual, but answering with portraits of the sample data.

    An untrained generator's output is nearly flat (a 7 kB PNG at 413x531 px), which encodes
    several times faster than a face. This stand-in pays the generator's own cost on every call
    and returns real content instead: sample portraits at the generator's resolution in [-1, 1],
    so framing and encoding cost what they cost for a trained model.
    """

    def __init__(self, generator, portraits: np.ndarray):
        self._generator = generator
        self._portraits = portraits
        self._served = 0
        self.input_shape = generator.input_shape

    def __call__(self, latents, training=False):
        np.asarray(self._generator(latents, training=training))
        picks = (self._served + np.arange(len(latents))) % len(self._portraits)
        self._served += len(latents)
        return self._portraits[picks]


def load_portraits(workspace: Workspace, side: int) -> np.ndarray:
    """The first `_PORTRAITS` sample portraits, resized to side x side, as floats in [-1, 1]."""
    from PIL import Image

    rows = workspace.photo_rows()[:_PORTRAITS]
    portraits = []
    for row in rows:
        with Image.open(workspace.photo_dir / row["path"]) as photo:
            small = photo.convert("RGB").resize((side, side), Image.Resampling.BILINEAR)
        portraits.append(np.asarray(small, dtype=np.float32) / 127.5 - 1.0)
    return np.stack(portraits)


def log_untrained_generator(tracking_uri: str, run_dir: str) -> str:
    """Exports a freshly built dcgan64 generator as training does; returns its `runs:/` URI."""
    import keras
    import mlflow

    from idphoto.models.architectures import build_generator
    from idphoto.training.config import load_train_config
    from idphoto.training.export import MLFLOW_MODEL_NAME, export_generator

    cfg = load_train_config(CONFIG, {})
    keras.utils.set_random_seed(cfg.runtime.seed)
    generator = build_generator(cfg.model)
    mlflow.set_tracking_uri(tracking_uri)
    experiment = mlflow.get_experiment_by_name("bench-generate").experiment_id
    os.makedirs(run_dir, exist_ok=True)
    with mlflow.start_run(experiment_id=experiment, run_name="bench-untrained-dcgan64") as run:
        export_generator(generator, run_dir, log_to_mlflow=True)
    return f"runs:/{run.info.run_id}/{MLFLOW_MODEL_NAME}"


def generate_rate(model_uri: str, photos: int, batch: int, out: str) -> tuple[float, int]:
    """Photos/s of `generate_photos` for `photos` photos, model load included.

    Returns:
        The rate and how many photos had their background recoloured.
    """
    from idphoto.generation.generate import generate_photos

    started = time.perf_counter()
    summary = generate_photos(
        model_uri, photos, PRESET, out, seed=0, batch_size=batch, overwrite=True
    )
    return photos / (time.perf_counter() - started), summary.recoloured


def raw_model_rate(model_uri: str, photos: int, batch: int) -> float:
    """Photos/s of the loaded generator alone, called on the batches `generate_photos` makes."""
    from idphoto.generation.generate import latent_for
    from idphoto.generation.model_source import load_generator, resolve_model

    generator = load_generator(resolve_model(model_uri))
    latent_dim = int(generator.input_shape[-1])
    batches = [
        np.stack([latent_for(0, i, latent_dim) for i in range(start, min(start + batch, photos))])
        for start in range(0, photos, batch)
    ]
    np.asarray(generator(batches[0], training=False))  # the first call builds the graph
    started = time.perf_counter()
    for latents in batches:
        np.asarray(generator(latents, training=False))
    return photos / (time.perf_counter() - started)


def _portrait_content(workspace: Workspace, model_uri: str, repeats: int, out: str) -> Record:
    """`generate_photos` with `PortraitOutput` in place of the loaded generator."""
    from unittest import mock

    from idphoto.generation import generate, model_source
    from idphoto.training.config import load_train_config

    sizes = workspace.sizes
    side = load_train_config(CONFIG, {}).model.resolution  # the logged generator's output side
    portraits = load_portraits(workspace, side)

    def load_with_portraits(ref):
        return PortraitOutput(model_source.load_generator(ref), portraits)

    rates, raw, sizes_kb = [], [], []
    with mock.patch.object(generate, "load_generator", load_with_portraits):
        for _ in range(repeats):
            rate, _ = generate_rate(model_uri, sizes.generate_photos, sizes.generate_batch, out)
            rates.append(rate)
            raw.append(raw_model_rate(model_uri, sizes.generate_photos, sizes.generate_batch))
            files = [f for f in os.listdir(out) if f.endswith(".png")]
            sizes_kb.append(
                statistics.median(os.path.getsize(os.path.join(out, f)) for f in files) / 1000
            )
    note = (
        f"the same run, the generator called as usual but its output replaced by {len(portraits)} "
        f"sample portraits at {side} px (PNG {statistics.median(sizes_kb):.0f} kB per photo): "
        "what framing and encoding cost for a trained model; baseline: the raw generator"
    )
    return PORTRAIT_CONTENT.summarise(rates, raw, note)


def _generate(workspace: Workspace, repeats: int) -> list[Record]:
    import mlflow

    sizes = workspace.sizes
    uri = workspace.tracking_uri()
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri  # generate_photos reads the store from here
    previous_keys = os.environ.get("IDPHOTO_KEYS")
    os.environ["IDPHOTO_KEYS"] = workspace.signing_keys()
    try:
        model_uri = log_untrained_generator(uri, str(workspace.root / "generator"))
        out = str(workspace.root / "generated")
        rates, raw, recoloured = [], [], 0
        for repeat in range(repeats):
            rate, recoloured = generate_rate(
                model_uri, sizes.generate_photos, sizes.generate_batch, out
            )
            rates.append(rate)
            raw.append(raw_model_rate(model_uri, sizes.generate_photos, sizes.generate_batch))
            _LOG.info("generate repeat %d: %.1f photos/s, raw %.0f", repeat + 1, rate, raw[-1])
        note = (
            f"{sizes.generate_photos} photos, batch {sizes.generate_batch}, untrained dcgan64 "
            f"generator from runs:/ in a local SQLite store ({recoloured} backgrounds "
            "recoloured); baseline: the loaded model's own call on the same latent batches, "
            "after one warm-up call"
        )
        record = PHOTOS.summarise(rates, raw, note)
        return [record, _portrait_content(workspace, model_uri, repeats, out)]
    finally:
        for name, value in (("MLFLOW_TRACKING_URI", previous), ("IDPHOTO_KEYS", previous_keys)):
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        mlflow.set_tracking_uri(None)
