"""ID-compliance rate: the share of images whose one face sits in the project's ID framing.

The framing is the one ingest aligns training photos into (`configs/ingest.yaml`, `align`),
scaled to each image's side: eyes level, the eye midpoint centred at the configured eye line,
and the head (estimated from the landmarks as `align` estimates it) at the configured share of
the height. A generator that learned the training data should score about what the held-out
real photos score; the tolerances live in `configs/compliance.yaml`.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from pathlib import Path

import numpy as np

from idphoto import config
from idphoto.faces.align import Framing, five_points, head_height
from idphoto.faces.detect import FaceDetector, confident_faces


@dataclasses.dataclass(frozen=True)
class ComplianceTolerances:
    """How far a detected face may sit from the ideal ID framing (no defaults here: the values
    live in `configs/compliance.yaml`)."""

    min_confidence: float  # detections scoring below this are ignored
    min_detect_side: int  # smaller images are upscaled to this side before detection
    max_roll_degrees: float  # tilt of the eye line
    max_centre_offset: float  # eye midpoint from the vertical centre line, share of the width
    max_eye_line_offset: float  # eye midpoint from the configured eye line, share of the height
    max_size_error: float  # relative error of the estimated head height, either way


@dataclasses.dataclass(frozen=True)
class ComplianceCheck:
    """The verdict on one face, and the measurements behind it (None when there is no face).

    Attributes:
        compliant: every measurement is within tolerance.
        reason: 'ok', or the first failure of 'no_face', 'multiple_faces', 'roll',
            'off_centre', 'eye_line', 'size'.
        roll_degrees: angle of the eye line, positive when the image-right eye is lower.
        centre_offset: eye midpoint right of the centre, as a share of the width.
        eye_line_offset: eye midpoint below the configured eye line, as a share of the height.
        size_error: estimated head height over the configured one, minus 1.
    """

    compliant: bool
    reason: str
    roll_degrees: float | None = None
    centre_offset: float | None = None
    eye_line_offset: float | None = None
    size_error: float | None = None


@dataclasses.dataclass(frozen=True)
class ComplianceReport:
    """ID compliance of a set of images.

    Attributes:
        rate: share of compliant images (NaN for an empty set).
        count: number of images checked.
        reasons: images per `ComplianceCheck.reason`, 'ok' included, sorted by reason.
    """

    rate: float
    count: int
    reasons: dict[str, int]


def default_path() -> Path:
    """Returns the path of the project's compliance tolerances."""
    return config.config_dir() / "compliance.yaml"


def load_compliance_tolerances(path: str | Path | None = None) -> ComplianceTolerances:
    """Loads the tolerances (the project's `configs/compliance.yaml` when `path` is None).

    Raises:
        ConfigError: a missing, unknown, wrongly typed or out-of-range key, named.
    """
    tolerances = config.load(ComplianceTolerances, path or default_path())
    for field in dataclasses.fields(tolerances):
        if getattr(tolerances, field.name) < 0:
            raise config.ConfigError(f"{field.name!r} must be non-negative")
    if tolerances.min_confidence > 1:
        raise config.ConfigError("'min_confidence' must be at most 1")
    return tolerances


def check_id_framing(
    landmarks: np.ndarray, resolution: int, framing: Framing, tol: ComplianceTolerances
) -> ComplianceCheck:
    """Checks five landmarks against ID framing in a square image of side `resolution`.

    Args:
        landmarks: (5, 2) or (68, 2) landmarks (x, y) in the image's pixels, in the
            coordinates `align_face` uses.
        resolution: side of the square image.
        framing: the ID framing (`head_height_share`, `eye_line_from_top` are used).
        tol: the tolerances.
    """
    points = five_points(landmarks)
    eye_to_eye = points[1] - points[0]
    eye_mid = (points[0] + points[1]) / 2
    roll = math.degrees(math.atan2(eye_to_eye[1], eye_to_eye[0]))
    centre = float(eye_mid[0] / resolution - 0.5)
    eye_line = float(eye_mid[1] / resolution - framing.eye_line_from_top)
    # The head is estimated exactly as alignment estimates it, so a correctly aligned face
    # scores 0 whichever of its two estimates (eye distance, eye-to-mouth) dominates.
    size = head_height(points) / (framing.head_height_share * resolution) - 1
    failures = (
        ("roll", abs(roll) > tol.max_roll_degrees),
        ("off_centre", abs(centre) > tol.max_centre_offset),
        ("eye_line", abs(eye_line) > tol.max_eye_line_offset),
        ("size", abs(size) > tol.max_size_error),
    )
    reason = next((name for name, failed in failures if failed), "ok")
    return ComplianceCheck(reason == "ok", reason, roll, centre, eye_line, size)


def id_compliance(
    images: np.ndarray, detector: FaceDetector, framing: Framing, tol: ComplianceTolerances
) -> ComplianceReport:
    """Runs the face detector on every image and checks the framing of the face it finds.

    An image complies when exactly one face scores at least `tol.min_confidence` and that
    face passes `check_id_framing`.

    Args:
        images: (N, S, S, C) square images, uint8 in [0, 255] or float in [-1, 1]; C is 1
            (grey, repeated to RGB) or 3.
        detector: the face detector.
        framing: the ID framing, applied at the images' side.
        tol: the tolerances.

    Raises:
        ValueError: images of the wrong shape, dtype or range.
    """
    pixels = _as_rgb_uint8(images)
    reasons = collections.Counter(
        _check_image(image, detector, framing, tol).reason for image in pixels
    )
    count = len(pixels)
    rate = reasons["ok"] / count if count else math.nan
    return ComplianceReport(rate, count, dict(sorted(reasons.items())))


def _check_image(
    image: np.ndarray, detector: FaceDetector, framing: Framing, tol: ComplianceTolerances
) -> ComplianceCheck:
    """Detects the faces of one (S, S, 3) uint8 RGB image and checks the framing of its one face."""
    faces = confident_faces(image, detector, tol.min_detect_side, tol.min_confidence)
    if not faces:
        return ComplianceCheck(False, "no_face")
    if len(faces) > 1:
        return ComplianceCheck(False, "multiple_faces")
    return check_id_framing(faces[0].landmarks, image.shape[0], framing, tol)


def _as_rgb_uint8(images: np.ndarray) -> np.ndarray:
    """Checks a batch of square images and returns it as (N, S, S, 3) uint8."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"images must be (N, H, W, C) with C 1 or 3, got shape {images.shape}")
    if images.shape[1] != images.shape[2]:
        raise ValueError(f"images must be square, got {images.shape[1]}×{images.shape[2]}")
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.floating):
            raise ValueError(f"images must be uint8 or float, got {images.dtype}")
        if images.size and (not np.isfinite(images).all() or np.abs(images).max() > 1 + 1e-3):
            raise ValueError("float images must lie in [-1, 1]")
        images = np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    return images
