"""Labels and writes generated photos: framing into the preset's bands, the invisible
watermark, the visible mark and XMP label, signed Content Credentials, the geometry check, and
the manifest that lists them (`idphoto.generation.generate` drives it)."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import signal
from pathlib import Path
from typing import Any

import numpy as np

from idphoto import __version__, config
from idphoto.generation import provenance, watermark
from idphoto.generation.credentials import PhotoSigner, load_signer, sign_photo
from idphoto.generation.labelling import ImageFormat, PhotoLabel, encode_photo
from idphoto.generation.measure import MeasuredPhoto, PhotoMeasurer, check_measured
from idphoto.generation.model_ref import ModelRef
from idphoto.generation.presets import LabelSettings, Preset

MANIFEST_FILE = "manifest.json"
TOOL = f"idphoto {__version__}"
EXTENSION = {"png": "png", "jpeg": "jpg"}
# A worker process's copy of the writer (`start_worker`). The worker functions live here, not
# in `generate`, so a spawned worker imports neither MLflow nor the generator's code.
_WORKER_WRITER: PhotoWriter | None = None


@dataclasses.dataclass
class PhotoWriter:
    """Frames, labels and writes photos into the staging folder, and records each one.

    Picklable, so worker processes get a copy: the face detector and the signer, which are not,
    are made on first use in each process.
    """

    folder: Path
    count: int
    seed: int
    ref: ModelRef
    preset: Preset
    label: LabelSettings
    visible_label: bool
    image_format: ImageFormat
    strict: bool
    key_folder: Path
    signer_subject: str
    training: provenance.TrainingData
    photos: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    dropped: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    _measurer: PhotoMeasurer | None = dataclasses.field(default=None, repr=False)
    _signer: PhotoSigner | None = dataclasses.field(default=None, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_measurer": None, "_signer": None}

    @property
    def measurer(self) -> PhotoMeasurer:
        """This process's face measurer, its network built on first use."""
        if self._measurer is None:
            measurer = PhotoMeasurer()
            measurer.warm_up()
            self._measurer = measurer
        return self._measurer

    @property
    def signer(self) -> PhotoSigner:
        """This process's signer, loaded from `key_folder` on first use."""
        if self._signer is None:
            self._signer = load_signer(self.key_folder)
        return self._signer

    def label_batch(self, indices: range, images: np.ndarray) -> list[dict[str, Any]]:
        """Frames, labels and writes the photos of one batch of generator output ((B, R, R, 3)
        uint8); returns their records in order."""
        measured = self.measurer.frame_many(list(images), self.preset)
        return [self.write(i, photo) for i, photo in zip(indices, measured, strict=True)]

    def write(self, index: int, photo: MeasuredPhoto) -> dict[str, Any]:
        """Writes photo `index`, framed and measured (`PhotoMeasurer.frame_many`); returns its
        record.

        The photo gets its invisible watermark, the visible mark and its XMP label, and is
        signed with Content Credentials; its geometry (measured on the framed photo) and file
        size are checked against the preset's bands. Under `strict`, a photo outside a band is
        not written, and its record (without "file") says why. It writes only its own file.
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
        name = f"photo-{index:0{digits}d}.{EXTENSION[self.image_format]}"
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
                    "signer": self.signer_subject,
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


def start_worker(writer: PhotoWriter) -> None:
    """Sets up a worker process: one thread for TensorFlow and for numpy's BLAS (the processes
    share the cores, and idle BLAS threads of two processes spinning on two cores cost a
    quarter of the throughput), its detector and signer, and Ctrl-C left to the parent, which
    stops the pool."""
    global _WORKER_WRITER
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from threadpoolctl import threadpool_limits

    from idphoto.cli.quiet import import_tensorflow

    import_tensorflow()  # its start-up lines filtered, as in the parent
    import tensorflow as tf

    threadpool_limits(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    _WORKER_WRITER = writer
    writer.measurer  # noqa: B018 - builds the detector's network before the first batch
    writer.signer  # noqa: B018 - loads and checks the keys once


def label_in_worker(indices: range, images: np.ndarray) -> list[dict[str, Any]]:
    """A worker process's task: one batch through its copy of the writer."""
    assert _WORKER_WRITER is not None, "the pool's initializer sets the writer"
    return _WORKER_WRITER.label_batch(indices, images)
