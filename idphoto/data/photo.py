"""Per-photo work of the ingest job, as plain functions: read → decode → locate face → align.

Kept free of Beam so that the job, the benchmarks' bare-loop baseline and the tests run the
very same code. Every failure a photo can cause is a `PhotoRejected` with a reason code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import time
from collections.abc import Callable

import numpy as np
from PIL import Image

from idphoto.data.decode import decode_photo
from idphoto.data.dedup import perceptual_hash, pixel_digest
from idphoto.data.ingest_config import IngestConfig
from idphoto.data.manifest import parse_landmarks
from idphoto.data.sources import read_photo_bytes, resolve_photo_path
from idphoto.errors import PhotoRejected
from idphoto.faces.align import align_face, eye_distance, five_points
from idphoto.faces.detect import FaceDetector, choose_face


class Deadline:
    """The time one photo may take, checked between the stages of its processing.

    Checked, not enforced by interruption: Beam runs DoFns in worker threads, where a signal
    cannot interrupt, and a process per photo would cost more than most photos take. Every stage
    is bounded on its own (file size, pixel count read from the header, detector input size), so
    checks between stages bound the whole; what they cannot stop is one stage that never ends.
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self._seconds = seconds
        self._clock = clock
        self._end = clock() + seconds

    def check(self, stage: str) -> None:
        """Rejects the photo as `timeout` when its time ran out by the end of `stage`."""
        if self._clock() > self._end:
            raise PhotoRejected("timeout", f"over {self._seconds:g} s by the end of {stage}")


@dataclasses.dataclass(frozen=True)
class SourceFile:
    """A photo file's bytes and their sha256 (the digest users quote in opt-out requests)."""

    data: bytes
    sha256: str


@dataclasses.dataclass(frozen=True)
class PreparedPhoto:
    """An accepted photo, aligned and encoded for the dataset."""

    image_bytes: bytes
    landmarks: np.ndarray  # (5, 2) in aligned-image pixels
    landmarks_source: str  # "manifest" or "detector"
    pixel_sha256: str
    phash: int


def read_source(row: dict, root: str, cfg: IngestConfig) -> SourceFile:
    """Resolves a manifest row's path safely and reads its bytes.

    Raises:
        PhotoRejected: for unsafe paths and missing, empty or oversized files.
    """
    location = resolve_photo_path(root, row["path"], cfg.allowed_schemes)
    data = read_photo_bytes(location, cfg.image.max_file_bytes)
    return SourceFile(data, hashlib.sha256(data).hexdigest())


def prepare_photo(
    row: dict,
    source: SourceFile,
    cfg: IngestConfig,
    detector: FaceDetector,
    deadline: Deadline | None = None,
) -> PreparedPhoto:
    """Decodes, locates the face, aligns it into ID framing and encodes the result.

    Args:
        row: the manifest row (its `landmarks`, when present, are used instead of the detector).
        source: the file read by `read_source`.
        cfg: the ingest settings.
        detector: used only for rows without landmarks.
        deadline: the photo's time budget, checked after each stage; none when None.

    Raises:
        PhotoRejected: for undecodable images, bad landmarks, missing or unusable faces, and
            `timeout` when the deadline passes.
    """
    check = deadline.check if deadline is not None else lambda stage: None
    image = decode_photo(source.data, cfg.image.max_pixels, cfg.image.min_side)
    check("decoding")
    points, origin = locate_face(image, row.get("landmarks"), cfg, detector)
    check("locating the face")
    framing = cfg.align
    aligned = align_face(
        image, points, framing.resolution, framing.head_height_share, framing.eye_line_from_top
    )
    prepared = PreparedPhoto(
        image_bytes=encode_image(aligned.image, framing.image_format, framing.jpeg_quality),
        landmarks=aligned.landmarks,
        landmarks_source=origin,
        pixel_sha256=pixel_digest(image),
        phash=perceptual_hash(image, cfg.dedup.hash_size),
    )
    check("aligning and hashing")
    return prepared


def locate_face(
    image: np.ndarray, raw_landmarks: object, cfg: IngestConfig, detector: FaceDetector
) -> tuple[np.ndarray, str]:
    """Returns the five landmarks of the photo's face and where they came from.

    Raises:
        PhotoRejected: `bad_landmarks`, `no_face`, `multiple_faces` or `face_too_small`.
    """
    try:
        given = parse_landmarks(raw_landmarks)
    except ValueError as err:
        raise PhotoRejected("bad_landmarks", str(err)) from None
    if given is not None:
        points, origin = five_points(np.array(given)), "manifest"
        height, width = image.shape[:2]
        inside = (points >= 0).all() and (points[:, 0] < width).all()
        if not inside or not (points[:, 1] < height).all():
            raise PhotoRejected("bad_landmarks", "landmarks fall outside the image")
    else:
        faces = detector.detect(image)
        face = choose_face(faces, cfg.faces.min_confidence, cfg.faces.dominance_ratio)
        points, origin = face.landmarks, "detector"
    distance = eye_distance(points)
    if distance < cfg.faces.min_eye_distance:
        raise PhotoRejected("face_too_small", f"eyes {distance:.1f} px apart")
    return points, origin


def encode_image(image: np.ndarray, image_format: str, jpeg_quality: int) -> bytes:
    """Encodes an RGB array as PNG or JPEG bytes."""
    buffer = io.BytesIO()
    if image_format == "jpeg":
        Image.fromarray(image).save(buffer, "JPEG", quality=jpeg_quality)
    else:
        Image.fromarray(image).save(buffer, "PNG")
    return buffer.getvalue()
