"""Writes labelled ID photos from a generator tracked in MLflow (`idphoto generate`).

Photo `i` is drawn from the latent seeded by `(seed, i)`, so it is the same photo whatever the
batch size or the number of photos asked for. Photos and `manifest.json` are written to a
staging folder beside `out_dir` and renamed into place at the end: an interrupted run leaves no
folder under the requested name that looks complete.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from idphoto import publish
from idphoto.errors import UserError
from idphoto.generation import provenance
from idphoto.generation.labelling import ImageFormat
from idphoto.generation.model_source import ModelRef, load_generator, resolve_model
from idphoto.generation.photo_writer import (
    EXTENSION,
    MANIFEST_FILE,
    PhotoWriter,
    label_in_worker,
    start_worker,
)
from idphoto.generation.presets import load_presets
from idphoto.tracking.runs import check_tracking_server


@dataclasses.dataclass(frozen=True)
class GenerationSummary:
    """What `generate_photos` wrote."""

    out_dir: str
    manifest: str
    count: int
    recoloured: int
    outside: int
    outside_bands: dict[str, int]
    dropped: int
    preset: str
    width_px: int
    height_px: int
    model: ModelRef


def latent_for(seed: int, index: int, latent_dim: int) -> np.ndarray:
    """Returns the float32 latent of photo `index`: a function of (seed, index) only."""
    return np.random.default_rng([seed, index]).standard_normal(latent_dim).astype(np.float32)


def generate_photos(
    model_uri: str,
    n: int,
    preset_name: str,
    out_dir: str | Path,
    seed: int = 0,
    batch_size: int = 16,
    visible_label: bool = True,
    image_format: ImageFormat = "png",
    overwrite: bool = False,
    strict: bool = False,
    keys: str | Path | None = None,
    workers: int | None = None,
) -> GenerationSummary:
    """Generates `n` labelled ID photos at a preset's size into `out_dir`, with a manifest.

    Args:
        model_uri: the generator (see `resolve_model`).
        n: number of photos.
        preset_name: a preset of `configs/presets.yaml`.
        out_dir: the folder to create; an existing one must be empty unless `overwrite`.
        seed: the seed of the latents (photo i uses (seed, i)).
        batch_size: photos per generator call.
        visible_label: draw the visible AI-generated mark.
        image_format: 'png' or 'jpeg'.
        overwrite: replace a non-empty `out_dir` (its old content is removed).
        strict: write only photos inside every band of the preset's geometry; the others are
            listed in the manifest as dropped, with the bands they missed.
        keys: the folder of the keys that sign each photo's Content Credentials (see
            `idphoto keys init`); None for the default folder.
        workers: processes that frame, label and sign the photos (None: one per core; 1:
            in this process, beside the generator). They are spawned, so a script that calls
            this with more than one worker needs Python's `if __name__ == "__main__":` guard.

    Returns:
        What was written.

    Raises:
        UserError: unknown preset, missing or unusable signing keys, unusable `out_dir`,
            unreachable tracking store, or a model URI that does not resolve — all before the
            model is loaded.
    """
    if n < 1 or batch_size < 1 or seed < 0 or (workers is not None and workers < 1):
        raise ValueError(
            f"need n, batch_size, workers >= 1, seed >= 0; got {n}, {batch_size}, {workers}, {seed}"
        )
    if image_format not in EXTENSION:
        raise ValueError(f"image_format must be 'png' or 'jpeg', got {image_format!r}")
    catalogue = load_presets()
    preset = catalogue.preset(preset_name)
    signer, key_folder = provenance.signing_identity(keys)
    out_dir = Path(os.path.abspath(out_dir))  # normalises `..`, unlike Path.absolute
    staging = Path(publish.prepare_staging(str(out_dir), overwrite))
    try:
        check_tracking_server(read_only=True)
        ref = resolve_model(model_uri)
        generator = load_generator(ref)
        latent_dim = int(generator.input_shape[-1])
        writer = PhotoWriter(
            folder=staging,
            count=n,
            seed=seed,
            ref=ref,
            preset=preset,
            label=catalogue.label,
            visible_label=visible_label,
            image_format=image_format,
            strict=strict,
            key_folder=key_folder,
            signer_subject=signer.subject,
            training=provenance.training_data(ref),
        )
        batch_count = -(-n // batch_size)
        workers = min(workers or _cores(), batch_count)  # a process per batch at most
        with tqdm(total=n, desc="photos", unit="photo", disable=None) as progress:
            batches = (
                range(start, min(start + batch_size, n)) for start in range(0, n, batch_size)
            )
            records = _write_overlapped(generator, batches, seed, latent_dim, ref, writer, workers)
            with contextlib.closing(records):  # an interrupt here cancels the pending photos
                for record in records:
                    (writer.photos if "file" in record else writer.dropped).append(record)
                    progress.update(1)
        writer.write_manifest()
        publish.publish(str(staging), str(out_dir))
    except BaseException:
        publish.discard(str(staging))
        raise
    checks = [record["geometry"] for record in writer.photos + writer.dropped]
    outside = collections.Counter(band for check in checks for band in check["failed"])
    return GenerationSummary(
        out_dir=str(out_dir),
        manifest=str(out_dir / MANIFEST_FILE),
        count=len(writer.photos),
        recoloured=sum(photo["background_recoloured"] for photo in writer.photos),
        outside=sum(not check["passed"] for check in checks),
        outside_bands=dict(sorted(outside.items())),
        dropped=len(writer.dropped),
        preset=preset.name,
        width_px=preset.width_px,
        height_px=preset.height_px,
        model=ref,
    )


def _write_overlapped(
    generator: Callable[..., Any],
    batches: Iterable[range],
    seed: int,
    latent_dim: int,
    ref: ModelRef,
    writer: PhotoWriter,
    workers: int,
) -> Iterator[dict[str, Any]]:
    """Yields the records of the photos of `batches`, in order, labelled beside the generator.

    This thread runs the generator; each batch of its output is framed, labelled, signed and
    written by `workers` processes (one per core by default), or by one thread of this process
    when `workers` is 1. Finding faces is most of a photo's cost, and the detector's Python
    code holds the GIL, so threads of one process do not spread it over the cores (measured:
    1.16x with two threads on two cores); processes do. At most `workers + 1` batches are in
    flight, so memory does not grow with `n`.
    """
    if workers == 1:
        pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="photo")
        label = writer.label_batch
    else:
        pool = concurrent.futures.ProcessPoolExecutor(
            workers,
            # Spawned, not forked: the parent already runs TensorFlow's threads.
            mp_context=multiprocessing.get_context("spawn"),
            initializer=start_worker,
            initargs=(writer,),
        )
        label = label_in_worker
    pending: collections.deque[concurrent.futures.Future] = collections.deque()
    try:
        for indices in batches:
            latents = np.stack([latent_for(seed, i, latent_dim) for i in indices])
            images = _to_rgb_uint8(np.asarray(generator(latents, training=False)), ref)
            while len(pending) > workers:
                yield from pending.popleft().result()
            pending.append(pool.submit(label, indices, images))
        while pending:
            yield from pending.popleft().result()
    finally:
        # After an error or an interrupt: batches not started are not written.
        pool.shutdown(wait=True, cancel_futures=True)


def _cores() -> int:
    """The cores this process may run on."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def _to_rgb_uint8(images: np.ndarray, ref: ModelRef) -> np.ndarray:
    """Maps (B, R, R, 1 or 3) output in [-1, 1] to uint8 RGB; grayscale is repeated to RGB."""
    images = np.clip(np.rint((images.astype(np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)
    channels = images.shape[-1]
    if channels == 1:
        return np.repeat(images, 3, axis=-1)
    if channels == 3:
        return images
    raise UserError(f"--model {ref.uri} makes images with {channels} channels, not 1 or 3")
