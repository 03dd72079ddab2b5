"""Labels bench: the watermark's robustness on generated photos of every preset, false positives
on unmarked images, and the speed of labelled generation on all cores against one core.

The photos come out of `generate_photos` itself (framing into the preset's bands, watermark,
visible mark, XMP, signed Content Credentials, geometry check), with `PortraitOutput` standing
in for a trained generator: sample portraits at 64 px, so faces are found and framed as for a
trained model. The attacks are those of `bench.watermark_robustness`, applied to the decoded
files; the false positives are counted over the same module's unmarked images plus the
stand-in's own photos written without a mark.

Speed: the same `generate_photos` call in a child process pinned to one core (a loop: its pool
has one worker, TensorFlow one thread) and in one with every core; the one-core child also
times each step of a photo one by one.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
from PIL import Image

from bench import watermark_robustness as attacks
from bench.generate_bench import (
    PortraitOutput,
    load_portraits,
    log_untrained_generator,
)
from bench.results import (
    REPORT,
    Measure,
    Record,
    guarded,
    ratio_at_least,
    value_at_least,
    value_at_most,
)
from bench.workspace import Workspace

STAGE = "labels"
_TARGETS = {"unmodified (PNG)": value_at_least(99, "%"), "JPEG q75": value_at_least(95, "%")}
DETECTED = {
    name: Measure(STAGE, f"watermark read with its id: {name}", "%", _TARGETS.get(name, REPORT))
    for name in attacks.ATTACKS
}
FALSE_POSITIVES = Measure(
    STAGE, "unmarked images read as marked", "images", value_at_most(0, "images")
)
SPEED = Measure(
    STAGE,
    "labelled photos/s on 2 cores vs one core, start-up apart",
    "photos/s",
    ratio_at_least(1.6),
)
STEPS = (
    "frame, faces found 3 times (batches of 16)",
    "watermark",
    "mark+XMP+encode",
    "sign C2PA",
    "check bands",
)
STEP_COST = {step: Measure(STAGE, f"per-photo cost: {step}", "ms") for step in STEPS}
_SPEED_PRESET = "passport-35x45"
_BATCH = 16  # photos per generator call, as generate_photos' default
_PORTRAITS_FILE = "labels-portraits.npy"  # the stand-in's content, for the timed child processes
_LOG = logging.getLogger(__name__)


def run(workspace: Workspace, repeats: int) -> list[Record]:
    """Runs the labels measures and returns their records (robustness once: it is a count)."""
    measures = (*DETECTED.values(), FALSE_POSITIVES, SPEED, *STEP_COST.values())
    return guarded(measures, lambda: _labels(workspace, repeats))


def _labels(workspace: Workspace, repeats: int) -> list[Record]:
    uri = workspace.tracking_uri()
    env = {"MLFLOW_TRACKING_URI": uri, "IDPHOTO_KEYS": workspace.signing_keys()}
    portraits = load_portraits(workspace, 64)
    np.save(workspace.root / _PORTRAITS_FILE, portraits)
    with mock.patch.dict(os.environ, env):
        model_uri = log_untrained_generator(uri, str(workspace.root / "labels-generator"))
        photos = max(90, round(1000 * workspace.sizes.scale))
        records = _robustness(workspace.root, portraits, model_uri, photos)
        records += _speed(workspace.root, model_uri, max(32, photos // 5), repeats)
    return records


def _robustness(root: Path, portraits: np.ndarray, model_uri: str, photos: int) -> list[Record]:
    """Detection per attack over `photos` generated photos spread over every preset."""
    from idphoto.generation.presets import load_presets

    names = sorted(load_presets().presets)
    rng = np.random.default_rng(0)
    outcomes = {name: [] for name in attacks.ATTACKS}
    backgrounds, unmarked = [], []
    for number, preset in enumerate(names):
        count = photos // len(names) + (number < photos % len(names))
        out = root / "labels" / preset
        manifest = _generate(portraits, model_uri, count, preset, out, seed=number)
        for photo in manifest["photos"]:
            with Image.open(out / photo["file"]) as picture:
                pixels = np.asarray(picture.convert("RGB"))
            photo_id = int(photo["watermark_id"], 16)
            for name, attack in attacks.ATTACKS.items():
                found = attacks.watermark.detect(attack(pixels, rng))
                outcomes[name].append(attacks.outcome(found, photo_id))
            backgrounds.append(manifest["preset"]["background"])
        unmarked += _unmarked_frames(portraits[:count], preset)
    unmarked += attacks.unmarked_images(1000 - len(unmarked), seed=1)
    false_positives, bound, _ = attacks.false_positives(unmarked)
    records = []
    for name, results in outcomes.items():
        rates = attacks.rates(results, backgrounds)
        by_background = ", ".join(f"{k} {v:.1%}" for k, v in rates["detected_by_label"].items())
        note = (
            f"{len(results)} photos from generate_photos over {len(names)} presets; "
            f"{rates['wrong_id']} wrong ids, {rates['missed']} missed; by background: "
            f"{by_background}"
        )
        records.append(DETECTED[name].summarise([100 * rates["detected"]], note=note))
    note = (
        f"{len(unmarked)} unmarked images: the stand-in generator's photos framed without a mark, "
        "and crops, resizes and JPEGs of scikit-image and matplotlib sample photos (the "
        "public-domain portraits among them), flat fields, noise and sample portraits; "
        f"bound on the expected count from the 2^-32 check: {bound:.1e}"
    )
    records.append(FALSE_POSITIVES.summarise([false_positives], note=note))
    return records


def _generate(
    portraits: np.ndarray, model_uri: str, count: int, preset: str, out: Path, seed: int
) -> dict:
    """`generate_photos` with `portraits` standing in for the output; returns the manifest."""
    from idphoto.generation import generate, model_source

    def load_with_portraits(ref):
        return PortraitOutput(model_source.load_generator(ref), portraits)

    with mock.patch.object(generate, "load_generator", load_with_portraits):
        generate.generate_photos(model_uri, count, preset, out, seed=seed, overwrite=True)
    return json.loads((out / "manifest.json").read_text())


def _unmarked_frames(portraits: np.ndarray, preset_name: str) -> list[np.ndarray]:
    """Stand-in portraits framed to a preset as generation frames them, with no mark."""
    from idphoto.generation.framing import frame_photo
    from idphoto.generation.presets import load_presets

    preset = load_presets().preset(preset_name)
    return [frame_photo(square, preset).image for square in _uint8(portraits)]


def _uint8(portraits: np.ndarray) -> np.ndarray:
    """Stand-in portraits in [-1, 1] as the uint8 squares the writer gets."""
    return np.clip(np.rint((portraits + 1) * 127.5), 0, 255).astype(np.uint8)


def _speed(root: Path, model_uri: str, photos: int, repeats: int) -> list[Record]:
    """Photos/s of labelled generation on every core against one core, start-up apart, and
    per-step costs.

    Each configuration generates `photos` and `2 * photos` photos in fresh processes; the
    difference of the two times is what `photos` more photos cost once everything has started
    (the model loaded, the worker processes up), so the rate compares the steady state, and the
    start-up (the rest of the shorter run) is reported in the note.
    """
    cores = sorted(os.sched_getaffinity(0))
    all_rates, one_rates, steps, startups = [], [], [], []
    for repeat in range(repeats):
        runs = {}
        for label, chosen in (("one", cores[:1]), ("all", cores)):
            short = _child(root, model_uri, photos, chosen, f"{label}-{repeat}-short")
            long = _child(root, model_uri, 2 * photos, chosen, f"{label}-{repeat}-long")
            slope = (long["seconds"] - short["seconds"]) / photos
            runs[label] = (photos / (long["seconds"] - short["seconds"]), short)
            startups.append((label, short["seconds"] - photos * slope))
        one_rates.append(runs["one"][0])
        all_rates.append(runs["all"][0])
        steps.append(runs["one"][1]["step_ms"])
        _LOG.info("labels %d: %.2f vs %.2f photos/s", repeat + 1, all_rates[-1], one_rates[-1])
    start = {
        label: np.median([s for lab, s in startups if lab == label]) for label in ("one", "all")
    }
    note = (
        f"{_SPEED_PRESET} photos, {photos} more photos once started (runs of {photos} and "
        f"{2 * photos}, each in a fresh process); {len(cores)} cores (a worker process per core) "
        f"against the same call pinned to core {cores[0]} (labelled in-process); start-up "
        f"(model load, workers) {start['all']:.1f} s on {len(cores)} cores, {start['one']:.1f} s "
        "on one"
    )
    records = [SPEED.summarise(all_rates, one_rates, note)]
    for step in STEPS:
        note = "on one core, photos of a batch one after another; median over the photos"
        records.append(STEP_COST[step].summarise([run[step] for run in steps], note=note))
    return records


def _child(root: Path, model_uri: str, photos: int, cores: list[int], tag: str) -> dict:
    """Runs `_child_main` in a fresh process limited to `cores`; returns its JSON."""
    out = root / "labels-speed" / tag
    command = [sys.executable, "-m", "bench.labels_bench", "--model", model_uri,
               "--photos", str(photos), "--out", str(out), "--workdir", str(root),
               "--cores", ",".join(map(str, cores))]  # fmt: skip
    finished = subprocess.run(command, check=True, capture_output=True, text=True, env=os.environ)
    return json.loads(finished.stdout.strip().splitlines()[-1])


def _child_main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="one timed labelled-generation run")
    parser.add_argument("--model", required=True)
    parser.add_argument("--photos", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--cores", required=True)
    args = parser.parse_args(argv)
    cores = {int(core) for core in args.cores.split(",")}
    os.sched_setaffinity(0, cores)  # before TensorFlow starts its thread pools
    import tensorflow as tf

    if len(cores) == 1:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    portraits = np.load(Path(args.workdir) / _PORTRAITS_FILE)
    started = time.perf_counter()
    _generate(portraits, args.model, args.photos, _SPEED_PRESET, Path(args.out), seed=0)
    seconds = time.perf_counter() - started
    step_ms = _step_costs(portraits[: min(args.photos, 48)]) if len(cores) == 1 else {}
    print(json.dumps({"seconds": seconds, "step_ms": step_ms}))


def _step_costs(portraits: np.ndarray) -> dict[str, float]:
    """Median ms per photo of each labelled step, one photo at a time."""
    from idphoto.generation import provenance, watermark
    from idphoto.generation.credentials import sign_photo
    from idphoto.generation.labelling import PhotoLabel, encode_photo
    from idphoto.generation.measure import PhotoMeasurer, check_measured
    from idphoto.generation.model_source import ModelRef
    from idphoto.generation.presets import load_presets

    catalogue = load_presets()
    preset = catalogue.preset(_SPEED_PRESET)
    measurer = PhotoMeasurer()
    measurer.warm_up()
    signer, _ = provenance.signing_identity(None)
    ref = ModelRef("runs:/bench/generator", "runs:/bench/generator", "", "", "bench")
    data = provenance.TrainingData({}, "", "", ())
    label = PhotoLabel(catalogue.label.digital_source_type, "bench", ref.uri, "", "", "", 0, 0, "")
    times: dict[str, list[float]] = {step: [] for step in STEPS}

    def timed(step, function, *args, **kwargs):
        started = time.perf_counter()
        result = function(*args, **kwargs)
        times[step].append(1000 * (time.perf_counter() - started))
        return result

    squares = _uint8(portraits)
    for start in range(0, len(squares), _BATCH):
        batch = list(squares[start : start + _BATCH])
        measured = timed(STEPS[0], measurer.frame_many, batch, preset)
        times[STEPS[0]][-1] /= len(batch)  # per photo
        for index, photo in enumerate(measured, start):
            marked = timed(STEPS[1], watermark.embed, photo.framed.image, index)
            encoded = timed(STEPS[2], encode_photo, marked, label, 300, catalogue.label.text, "png")
            claim = provenance.creation_claim(ref, 0, index, data, index)
            signed = timed(STEPS[3], sign_photo, encoded, "png", claim, signer)
            timed(STEPS[4], check_measured, photo, preset, len(signed))
    return {step: float(np.median(values)) for step, values in times.items()}


if __name__ == "__main__":
    _child_main()
