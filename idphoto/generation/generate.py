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
import datetime
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from idphoto import __version__, config, publish
from idphoto.errors import UserError
from idphoto.generation import provenance, watermark
from idphoto.generation.credentials import PhotoSigner, sign_photo
from idphoto.generation.labelling import ImageFormat, PhotoLabel, encode_photo
from idphoto.generation.measure import MeasuredPhoto, PhotoMeasurer, check_measured
from idphoto.generation.model_source import ModelRef, load_generator, resolve_model
from idphoto.generation.presets import LabelSettings, Preset, load_presets
from idphoto.tracking.runs import check_tracking_server

MANIFEST_FILE = "manifest.json"
TOOL = f"idphoto {__version__}"
_EXTENSION = {"png": "png", "jpeg": "jpg"}


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

    Returns:
        What was written.

    Raises:
        UserError: unknown preset, missing or unusable signing keys, unusable `out_dir`,
            unreachable tracking store, or a model URI that does not resolve — all before the
            model is loaded.
    """
    if n < 1 or batch_size < 1 or seed < 0:
        raise ValueError(f"need n >= 1, batch_size >= 1, seed >= 0; got {n}, {batch_size}, {seed}")
    if image_format not in _EXTENSION:
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
        measurer = PhotoMeasurer()
        measurer.warm_up()
        writer = _PhotoWriter(
            folder=staging,
            count=n,
            seed=seed,
            ref=ref,
            preset=preset,
            label=catalogue.label,
            visible_label=visible_label,
            image_format=image_format,
            measurer=measurer,
            strict=strict,
            signer=signer,
            key_folder=key_folder,
            training=provenance.training_data(ref),
        )
        with tqdm(total=n, desc="photos", unit="photo", disable=None) as progress:
            batches = (
                range(start, min(start + batch_size, n)) for start in range(0, n, batch_size)
            )
            records = _write_overlapped(generator, batches, seed, latent_dim, ref, writer)
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
    writer: _PhotoWriter,
) -> Iterator[dict[str, Any]]:
    """Yields the records of the photos of `batches`, in order, writing them in a thread pool.

    This thread runs the generator and frames each batch, finding its faces in three batched
    calls of the detector (TensorFlow spreads those over the cores); the pool watermarks,
    labels, encodes and signs the photos of one batch on every core meanwhile (numpy, Pillow,
    zlib and the C2PA library release the GIL). At most two batches are in flight, so memory
    does not grow with `n`.
    """
    workers = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    pending: collections.deque[concurrent.futures.Future] = collections.deque()
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="photo") as pool:
        try:
            for indices in batches:
                latents = np.stack([latent_for(seed, i, latent_dim) for i in indices])
                images = _to_rgb_uint8(np.asarray(generator(latents, training=False)), ref)
                measured = writer.measurer.frame_many(list(images), writer.preset)
                while len(pending) > len(indices):  # the previous batch may still be writing
                    yield pending.popleft().result()
                pending.extend(
                    pool.submit(writer.write, index, photo)
                    for index, photo in zip(indices, measured, strict=True)
                )
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:  # after an error: photos not started are not written
                future.cancel()


@dataclasses.dataclass
class _PhotoWriter:
    """Frames, labels and writes photos into the staging folder, and records each one."""

    folder: Path
    count: int
    seed: int
    ref: ModelRef
    preset: Preset
    label: LabelSettings
    visible_label: bool
    image_format: ImageFormat
    measurer: PhotoMeasurer
    strict: bool
    signer: PhotoSigner
    key_folder: Path
    training: provenance.TrainingData
    photos: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    dropped: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def write(self, index: int, photo: MeasuredPhoto) -> dict[str, Any]:
        """Writes photo `index`, framed and measured (`PhotoMeasurer.frame_many`); returns its
        record.

        The photo gets its invisible watermark, the visible mark and its XMP label, and is
        signed with Content Credentials; its geometry (measured on the framed photo) and file
        size are checked against the preset's bands. Under `strict`, a photo outside a band is
        not written, and its record (without "file") says why. Safe to call from several
        threads at once: it writes only its own file.
        """
        framed = photo.framed
        mark_id = provenance.photo_id(self.ref, self.seed, index)
        label = PhotoLabel(
            digital_source_type=self.label.digital_source_type,
            tool=TOOL,
            model_uri=self.ref.uri,
            model_name=self.ref.name,
            model_version=self.ref.version,
            run_id=self.ref.run_id,
            seed=self.seed,
            index=index,
            preset=self.preset.name,
        )
        mark = self.label.text if self.visible_label else None
        data = encode_photo(
            watermark.embed(framed.image, mark_id), label, self.preset.dpi, mark, self.image_format
        )
        claim = provenance.creation_claim(self.ref, self.seed, index, self.training, mark_id)
        data = sign_photo(data, self.image_format, claim, self.signer)
        geometry = check_measured(photo, self.preset, file_bytes=len(data))
        record = {
            "index": index,
            "seed": self.seed,
            "watermark_id": provenance.format_id(mark_id),
            "geometry": geometry.to_dict(),
        }
        if self.strict and not geometry.passed:
            return record
        digits = max(5, len(str(self.count - 1)))
        name = f"photo-{index:0{digits}d}.{_EXTENSION[self.image_format]}"
        (self.folder / name).write_bytes(data)
        return {
            "file": name,
            **record,
            "sha256": hashlib.sha256(data).hexdigest(),
            "width_px": self.preset.width_px,
            "height_px": self.preset.height_px,
            "background_recoloured": framed.recoloured,
        }

    def write_manifest(self) -> None:
        """Writes `manifest.json`; written last, so a folder without it was interrupted."""
        ref = self.ref
        manifest = {
            "tool": TOOL,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "model": {
                "uri": ref.uri,
                "name": ref.name,
                "version": ref.version,
                "run_id": ref.run_id,
            },
            "preset": config.to_dict(self.preset),
            "seed": self.seed,
            "format": self.image_format,
            "label": {
                "digital_source_type": self.label.digital_source_type,
                "visible_mark": self.label.text if self.visible_label else None,
                "content_credentials": {
                    "signer": self.signer.subject,
                    "trust_anchor": str(self.key_folder / "ca.pem"),
                },
                "watermark": {
                    "scheme": watermark.KEY.decode(),
                    "payload": f"{watermark.ID_BITS}-bit photo id (hex in watermark_id) and "
                    f"{watermark.CHECK_BITS} check bits",
                },
            },
            "training_data": self.training.to_dict(),
            "geometry_source": self.preset.geometry.source,
            "strict": self.strict,
            "count": len(self.photos),
            "photos": self.photos,
            "dropped": self.dropped,
        }
        text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
        (self.folder / MANIFEST_FILE).write_text(text, encoding="utf-8")


def _to_rgb_uint8(images: np.ndarray, ref: ModelRef) -> np.ndarray:
    """Maps (B, R, R, 1 or 3) output in [-1, 1] to uint8 RGB; grayscale is repeated to RGB."""
    images = np.clip(np.rint((images.astype(np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)
    channels = images.shape[-1]
    if channels == 1:
        return np.repeat(images, 3, axis=-1)
    if channels == 3:
        return images
    raise UserError(f"--model {ref.uri} makes images with {channels} channels, not 1 or 3")
