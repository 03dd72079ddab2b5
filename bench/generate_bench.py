"""Generation benchmark: `generate_photos` end to end against the raw generator on the same batches.

The model is a freshly built dcgan64 generator logged with `mlflow.keras.log_model` into the
bench's own MLflow store: untrained weights cost the same to run as trained ones. The value
includes everything a user waits for — resolving and loading the model, framing to the preset,
the visible mark, XMP labelling, PNG encoding and the manifest. When the target is missed, one
extra call runs under cProfile and the note names where the time goes.
"""

from __future__ import annotations

import cProfile
import logging
import os
import pstats
import time

import numpy as np

from bench.results import Measure, Record, guarded, ratio_at_least
from bench.workspace import Workspace

STAGE = "generate"
CONFIG = "configs/train/dcgan64.yaml"
PRESET = "passport-35x45"
PHOTOS = Measure(
    STAGE,
    "photos/s incl. model load and labelling (passport-35x45)",
    "photos/s",
    ratio_at_least(0.8),
)
_PROFILE_PHOTOS = 200
_LOG = logging.getLogger(__name__)


def run(workspace: Workspace, repeats: int) -> list[Record]:
    """Runs the generation measure `repeats` times and returns its record."""
    return guarded((PHOTOS,), lambda: _generate(workspace, repeats))


def log_untrained_generator(tracking_uri: str, run_dir: str) -> str:
    """Exports a freshly built dcgan64 generator as training does; returns its `runs:/` URI."""
    import keras
    import mlflow

    from idphoto.models import build_generator
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


def profile_generation(model_uri: str, photos: int, batch: int, out: str) -> str:
    """Runs `generate_photos` under cProfile; returns where the time went, in one line."""
    from idphoto.generation.generate import generate_photos

    profiler = cProfile.Profile()
    profiler.enable()
    generate_photos(model_uri, photos, PRESET, out, seed=0, batch_size=batch, overwrite=True)
    profiler.disable()
    return summarise_profile(pstats.Stats(profiler), photos)


def summarise_profile(stats: pstats.Stats, photos: int) -> str:
    """The cumulative time of the steps of generation and the top functions by own time."""
    entries = stats.stats  # {(file, line, name): (calls, primitive calls, own, cumulative, ...)}
    total = max(entry[3] for entry in entries.values())
    model_calls = _called_from(entries, ("generate.py", "generate_photos"), "/keras/")
    steps = {
        "load_generator": ("model_source.py", "load_generator"),
        "frame_photo": ("framing.py", "frame_photo"),
        "  Lanczos+bilinear resize": ("~", "<method 'resize' of 'ImagingCore' objects>"),
        "  recolour_background": ("framing.py", "recolour_background"),
        "write_photo": ("labelling.py", "write_photo"),
        "  add_visible_mark": ("labelling.py", "add_visible_mark"),
        "  ImageFont.load_default": ("ImageFont.py", "load_default"),
        "  PNG encode (zlib)": ("~", "<method 'encode' of 'ImagingEncoder' objects>"),
    }
    shown = [f"generator(z) {model_calls:.2f} s ({100 * model_calls / total:.0f} %)"]
    for label, (file_end, name) in steps.items():
        cumulative = sum(
            entry[3]
            for (file, _, func), entry in entries.items()
            if func == name and file.endswith(file_end)
        )
        if cumulative:
            shown.append(f"{label.strip()} {cumulative:.2f} s ({100 * cumulative / total:.0f} %)")
    own = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:5]
    top = ", ".join(f"{_name(key)} {entry[2]:.2f} s" for key, entry in own)
    return (
        f"cProfile of generate_photos, {photos} photos, {total:.1f} s: "
        + "; ".join(shown)
        + f". Top own time: {top}"
    )


def _generate(workspace: Workspace, repeats: int) -> list[Record]:
    import mlflow

    sizes = workspace.sizes
    uri = workspace.tracking_uri()
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri  # generate_photos reads the store from here
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
        if record.passed is False:
            photos = min(_PROFILE_PHOTOS, sizes.generate_photos)
            profile = profile_generation(model_uri, photos, sizes.generate_batch, out)
            record = PHOTOS.summarise(rates, raw, f"{note}. {profile}")
        return [record]
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = previous
        mlflow.set_tracking_uri(None)


def _called_from(entries: dict, caller: tuple[str, str], callee_path: str) -> float:
    """Cumulative time of the calls `caller` (file suffix, function) made into files whose path
    holds `callee_path` (the model's call nests through many Keras functions, so only the calls
    made directly by `caller` are counted)."""
    total = 0.0
    for (file, _, _), entry in entries.items():
        if callee_path not in file:
            continue
        for (file, _, func), timing in entry[4].items():
            if func == caller[1] and file.endswith(caller[0]):
                total += timing[3]
    return total


def _name(key: tuple[str, int, str]) -> str:
    file, line, name = key
    if file == "~":
        return name
    return f"{os.path.basename(file)}:{name}"
