"""ID-photo geometry: the bands a preset's authority sets, framing into them, and checking them.

A preset names its bands in `configs/presets.yaml` (`geometry`), in the units its source uses:
head height (chin to crown) in millimetres of the printed photo, the eye line's height from the
bottom as a share of the photo, the inter-eye distance in pixels, centring, roll, and for some
authorities the margin above the head. Framing places a generated face at the middle of those
bands; checking measures the final photo again with the face detector, so a photo is judged on
what was written, not on what framing intended.

The five landmarks give the eyes, nose and mouth, not the chin and crown; the head height is
estimated from them as alignment estimates it (`idphoto.faces.align.head_height`), and the crown
and chin are placed about the eye line by the head's usual proportions (`CROWN_TO_EYES`).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from idphoto.faces.align import eye_distance, five_points, head_height

# Share of the chin-to-crown height above the eye centres: the eyes sit a little above the
# middle of the head (about 0.46-0.50 in adult anthropometric tables); 0.48 is used both ways,
# to place the crown when framing and to find it when checking, so the two agree.
CROWN_TO_EYES = 0.48


@dataclasses.dataclass(frozen=True)
class GeometryBands:
    """What an issuing authority asks of the face's size and position in the photo.

    Attributes:
        source: the standard or authority the bands come from, as one line.
        head_height_mm: chin to crown on the printed photo, (min, max) millimetres.
        eye_line_from_bottom: height of the eye line above the bottom edge, (min, max) share
            of the photo height.
        max_centre_offset: largest distance of the face's centre line from the photo's,
            as a share of the width.
        max_roll_degrees: largest tilt of the eye line.
        max_background_spread: largest spread of the background band (90th percentile of
            RGB distances to its median colour, 0-255 units): above it the background is
            not plain.
        min_eye_distance_px: fewest pixels between the eye centres, or None.
        top_margin_mm: space between the crown and the top edge, (min, max) mm, or None.
        file_kb: the file's size limits for online forms, (min, max) kB of 1,000 bytes, or None.
    """

    source: str
    head_height_mm: tuple[float, float]
    eye_line_from_bottom: tuple[float, float]
    max_centre_offset: float
    max_roll_degrees: float
    max_background_spread: float
    min_eye_distance_px: float | None = None
    top_margin_mm: tuple[float, float] | None = None
    file_kb: tuple[float, float] | None = None

    def check(self) -> str | None:
        """What is wrong with the bands themselves, as `key: problem`, or None."""
        pairs = {
            "head_height_mm": self.head_height_mm,
            "eye_line_from_bottom": self.eye_line_from_bottom,
            "top_margin_mm": self.top_margin_mm,
            "file_kb": self.file_kb,
        }
        for key, pair in pairs.items():
            if pair is not None and (len(pair) != 2 or not 0 <= pair[0] <= pair[1]):
                return f"{key}: must be [min, max] with 0 <= min <= max"
        if not 0 < self.eye_line_from_bottom[1] <= 1:
            return "eye_line_from_bottom: must be shares of the height, at most 1"
        return None


@dataclasses.dataclass(frozen=True)
class FaceGeometry:
    """Where a face lies in a photo of `width` x `height` pixels, from its five landmarks."""

    eye_mid: tuple[float, float]
    head_height_px: float
    eye_distance_px: float
    roll_degrees: float
    centre_x: float  # the face's centre line: midway between the eye midpoint and mouth midpoint

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray) -> FaceGeometry:
        """Measures five (or 68) (x, y) landmarks in pixel coordinates."""
        points = five_points(landmarks)
        eye_mid = (points[0] + points[1]) / 2
        mouth_mid = (points[3] + points[4]) / 2
        eye_to_eye = points[1] - points[0]
        return cls(
            eye_mid=(float(eye_mid[0]), float(eye_mid[1])),
            head_height_px=head_height(points),
            eye_distance_px=eye_distance(points),
            roll_degrees=math.degrees(math.atan2(eye_to_eye[1], eye_to_eye[0])),
            centre_x=float((eye_mid[0] + mouth_mid[0]) / 2),
        )

    def mapped(self, box: tuple[float, float, float, float], height_px: int) -> FaceGeometry:
        """This face, measured in a photo `height_px` high framed from `box` of a source,
        in the source's pixels."""
        scale = (box[3] - box[1]) / height_px
        return FaceGeometry(
            eye_mid=(box[0] + self.eye_mid[0] * scale, box[1] + self.eye_mid[1] * scale),
            head_height_px=self.head_height_px * scale,
            eye_distance_px=self.eye_distance_px * scale,
            roll_degrees=self.roll_degrees,
            centre_x=box[0] + self.centre_x * scale,
        )


@dataclasses.dataclass(frozen=True)
class Target:
    """Where framing puts the face, in shares of the photo height."""

    head_height: float
    eye_line_from_top: float


def framing_target(
    bands: GeometryBands, height_mm: float, face: FaceGeometry, source_height: int
) -> Target:
    """Where to put `face`, found in a source image `source_height` pixels high.

    Each value is the one nearest the source's own framing inside the middle half of its band:
    the middle half leaves room for the detector's error when the photo is checked, and staying
    near the source keeps as much of what the generator drew as the bands allow (a head drawn
    at 70 % of the height needs no margin invented around it for a 71-80 % band). The source's
    own framing is the head's share of its height and the eye line of a box whose bottom is the
    source's bottom edge. Where the authority sets a margin above the crown, the eye line
    follows from it (`CROWN_TO_EYES`), still inside the eye band.
    """
    head_band = _middle_half(bands.head_height_mm, height_mm)
    head = _clamp(face.head_height_px / source_height, head_band)
    box_height = face.head_height_px / head
    box_top = source_height - box_height
    eye_band = _middle_half(bands.eye_line_from_bottom, 1.0)
    eye_from_bottom = 1 - (face.eye_mid[1] - box_top) / box_height
    if bands.top_margin_mm is not None:
        native_crown = 1 - eye_from_bottom - CROWN_TO_EYES * head
        crown = _clamp(native_crown, _middle_half(bands.top_margin_mm, height_mm))
        eye_from_bottom = 1 - crown - CROWN_TO_EYES * head
    return Target(head_height=head, eye_line_from_top=1 - _clamp(eye_from_bottom, eye_band))


def near_target(face: FaceGeometry, bands: GeometryBands, height_px: int, height_mm: float) -> bool:
    """Whether a face measured in a framed photo already has its head height and eye line in
    the middle half of their bands, where framing aims (its crown too, where a band is set)."""
    head = face.head_height_px / height_px
    eye_from_bottom = 1 - face.eye_mid[1] / height_px
    inside = [
        _within(head, _middle_half(bands.head_height_mm, height_mm)),
        _within(eye_from_bottom, _middle_half(bands.eye_line_from_bottom, 1.0)),
    ]
    if bands.top_margin_mm is not None:
        crown = face.eye_mid[1] / height_px - CROWN_TO_EYES * head
        inside.append(_within(crown, _middle_half(bands.top_margin_mm, height_mm)))
    return all(inside)


def _middle_half(band: tuple[float, float], scale: float) -> tuple[float, float]:
    """The middle half of `band`, divided by `scale` (millimetres to shares of the height)."""
    quarter = (band[1] - band[0]) / 4
    return ((band[0] + quarter) / scale, (band[1] - quarter) / scale)


def _clamp(value: float, band: tuple[float, float]) -> float:
    return min(band[1], max(band[0], value))


def framing_box(
    face: FaceGeometry, target: Target, aspect: float
) -> tuple[float, float, float, float]:
    """The (left, top, right, bottom) box of the source image that frames `face` at `target`.

    The box may reach outside the source: a head drawn larger than the preset wants needs
    more room around it than the generator drew. The box has the preset's `aspect` (width
    over height); the face's centre line is at its horizontal middle.
    """
    box_height = face.head_height_px / target.head_height
    box_width = box_height * aspect
    top = face.eye_mid[1] - target.eye_line_from_top * box_height
    left = face.centre_x - box_width / 2
    return (left, top, left + box_width, top + box_height)


@dataclasses.dataclass(frozen=True)
class GeometryCheck:
    """The measurements of one final photo against its preset's bands.

    Attributes:
        passed: every measurement is inside its band.
        failed: names of the measurements outside their band ('no_face' when the detector
            found none, 'multiple_faces' when it found several), in a fixed order.
        measured: the measurements, rounded for the manifest (mm, shares, px, degrees, kB).
    """

    passed: bool
    failed: tuple[str, ...]
    measured: dict[str, float | None]

    def to_dict(self) -> dict[str, object]:
        """The check as the manifest records it."""
        return {"passed": self.passed, "failed": list(self.failed), **self.measured}


def check_geometry(
    face: FaceGeometry | None,
    faces_found: int,
    width_px: int,
    height_px: int,
    height_mm: float,
    bands: GeometryBands,
    background_spread: float | None,
    file_bytes: int | None = None,
) -> GeometryCheck:
    """Checks a final photo's measured face (None when no face was found) against `bands`.

    Args:
        face: the one face detected on the final photo, or None.
        faces_found: how many confident faces the detector found.
        width_px, height_px: the photo's pixel size.
        height_mm: the photo's printed height (millimetres per pixel = height_mm / height_px).
        bands: the preset's bands.
        background_spread: the spread of the photo's background band, or None if unmeasured.
        file_bytes: the written file's size, checked when the bands set `file_kb`.
    """
    measured: dict[str, float | None] = {
        "background_spread": _round(background_spread, 1),
        "file_kb": _round(file_bytes / 1000, 1) if file_bytes is not None else None,
    }
    failures: list[str] = []
    if faces_found != 1 or face is None:
        failures.append("no_face" if faces_found == 0 else "multiple_faces")
    else:
        mm_per_px = height_mm / height_px
        crown_y = face.eye_mid[1] - CROWN_TO_EYES * face.head_height_px
        measured.update(
            head_height_mm=_round(face.head_height_px * mm_per_px, 2),
            eye_line_from_bottom=_round(1 - face.eye_mid[1] / height_px, 3),
            eye_distance_px=_round(face.eye_distance_px, 1),
            centre_offset=_round(face.centre_x / width_px - 0.5, 3),
            roll_degrees=_round(face.roll_degrees, 1),
            top_margin_mm=_round(crown_y * mm_per_px, 2),
        )
        failures += _face_failures(face, crown_y * mm_per_px, mm_per_px, width_px, height_px, bands)
    if background_spread is not None and background_spread > bands.max_background_spread:
        failures.append("background")
    if (
        file_bytes is not None
        and bands.file_kb is not None
        and not _within(file_bytes / 1000, bands.file_kb)
    ):
        failures.append("file_kb")
    return GeometryCheck(not failures, tuple(failures), measured)


def _face_failures(
    face: FaceGeometry,
    top_margin_mm: float,
    mm_per_px: float,
    width_px: int,
    height_px: int,
    bands: GeometryBands,
) -> list[str]:
    """The names of the face measurements outside their bands, in a fixed order."""
    outside = {
        "head_height": not _within(face.head_height_px * mm_per_px, bands.head_height_mm),
        "eye_line": not _within(1 - face.eye_mid[1] / height_px, bands.eye_line_from_bottom),
        "eye_distance": bands.min_eye_distance_px is not None
        and face.eye_distance_px < bands.min_eye_distance_px,
        "centre": abs(face.centre_x / width_px - 0.5) > bands.max_centre_offset,
        "roll": abs(face.roll_degrees) > bands.max_roll_degrees,
        "top_margin": bands.top_margin_mm is not None
        and not _within(top_margin_mm, bands.top_margin_mm),
    }
    return [name for name, out in outside.items() if out]


def _within(value: float, band: tuple[float, float]) -> bool:
    return band[0] <= value <= band[1]


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)
