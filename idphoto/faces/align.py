"""Landmark-based alignment of a face into ID framing.

Follows FFHQ's alignment (Karras et al., `recreate_aligned_images` in
https://github.com/NVlabs/ffhq-dataset): the face's axes come from the eye-to-eye and eye-to-mouth
vectors, so roll is removed and the estimate is robust to small yaw and pitch. Unlike FFHQ's
loose square crop, the scale puts the crown-to-chin height at a fixed share of the frame and the
eye line at a fixed height, which is how ID-photo rules (ICAO 9303) frame a head.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
from PIL import Image
from skimage.transform import AffineTransform, warp

# Crown-to-chin height in units of the eye-centre distance and of the eye-to-mouth distance
# (adult anthropometry: about 23 cm, 6.3 cm and 7 cm). The larger of the two estimates is used,
# so a turned head (shorter eye distance) or a tilted one (shorter eye-to-mouth) is not shrunk.
_HEAD_PER_EYE_DISTANCE = 3.6
_HEAD_PER_EYE_TO_MOUTH = 3.3

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclasses.dataclass(frozen=True)
class Framing:
    """ID framing of the aligned square image (the `align` section of `configs/ingest.yaml`)."""

    resolution: int
    head_height_share: float  # crown-to-chin height as a share of the image height
    eye_line_from_top: float  # height of the eye line from the top, as a share of the image
    image_format: Literal["png", "jpeg"]  # encoding of aligned images in the TFRecords
    jpeg_quality: int


@dataclasses.dataclass(frozen=True)
class Alignment:
    """An aligned face: the square image and the five landmarks in its coordinates."""

    image: np.ndarray  # (resolution, resolution, 3) uint8
    landmarks: np.ndarray  # (5, 2) float32


def five_points(points: np.ndarray) -> np.ndarray:
    """Reduces 5 or 68 (x, y) landmarks to the five used here, image-left eye first.

    Args:
        points: (5, 2) in `LANDMARK_NAMES` order, or (68, 2) in the iBUG-300W order that dlib and
            FFHQ use (points 36-41 are the eye on the image's left).

    Returns:
        A (5, 2) float64 array.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.shape == (5, 2):
        return points
    if points.shape == (68, 2):
        return np.stack(
            [points[36:42].mean(0), points[42:48].mean(0), points[30], points[48], points[54]]
        )
    raise ValueError(f"expected 5 or 68 (x, y) landmarks, got shape {points.shape}")


def eye_distance(points: np.ndarray) -> float:
    """Returns the distance between the two eye centres of five landmarks."""
    return float(np.hypot(*(points[1] - points[0])))


def head_height(points: np.ndarray) -> float:
    """Estimates the crown-to-chin height of a face from five landmarks, in their pixels.

    The larger of the estimates from the eye-centre distance and the eye-to-mouth distance.
    """
    eye_to_mouth = (points[3] + points[4]) / 2 - (points[0] + points[1]) / 2
    return max(
        _HEAD_PER_EYE_DISTANCE * eye_distance(points),
        _HEAD_PER_EYE_TO_MOUTH * float(np.hypot(*eye_to_mouth)),
    )


def id_framing_matrix(
    points: np.ndarray, resolution: int, head_height_share: float, eye_line_from_top: float
) -> np.ndarray:
    """Returns the 3×3 similarity transform from source pixels to the aligned frame.

    Args:
        points: five landmarks (x, y) in source pixels.
        resolution: side of the square output.
        head_height_share: crown-to-chin height as a share of the output height.
        eye_line_from_top: height of the eye line from the top, as a share of the output.
    """
    eye_left, eye_right = points[0], points[1]
    eye_mid = (eye_left + eye_right) / 2
    mouth_mid = (points[3] + points[4]) / 2
    eye_to_eye = eye_right - eye_left
    eye_to_mouth = mouth_mid - eye_mid
    # The horizontal axis blends both vectors as FFHQ does: the eye line, and the normal of the
    # eye-to-mouth line (rotated 90° so it points right).
    across = eye_to_eye - np.array([-eye_to_mouth[1], eye_to_mouth[0]])
    across /= np.hypot(*across)
    down = np.array([-across[1], across[0]])
    scale = head_height_share * resolution / head_height(points)
    rotation = np.stack([across, down])  # rows: output x and y axes in source coordinates
    linear = scale * rotation
    target = np.array([resolution / 2, eye_line_from_top * resolution])
    matrix = np.eye(3)
    matrix[:2, :2] = linear
    matrix[:2, 2] = target - linear @ eye_mid
    return matrix


def align_face(
    image: np.ndarray,
    points: np.ndarray,
    resolution: int,
    head_height_share: float,
    eye_line_from_top: float,
) -> Alignment:
    """Warps `image` so the face sits in ID framing in a `resolution`-pixel square.

    Areas outside the source are filled by repeating its edge pixels, which keeps the
    background plain instead of adding black wedges.

    Args:
        image: (H, W, 3) uint8 RGB.
        points: five landmarks (x, y) in `image` pixels.
        resolution: side of the square output.
        head_height_share: crown-to-chin height as a share of the output height.
        eye_line_from_top: height of the eye line from the top, as a share of the output.
    """
    matrix = id_framing_matrix(points, resolution, head_height_share, eye_line_from_top)
    source, shrink = _prefilter(image, matrix)
    # Reduced pixel k covers source pixels k*shrink .. k*shrink + shrink - 1: fold that in.
    offset = (shrink - 1) / 2
    to_output = matrix @ np.array([[shrink, 0, offset], [0, shrink, offset], [0, 0, 1.0]])
    warped = warp(
        source,
        AffineTransform(matrix=to_output).inverse,
        output_shape=(resolution, resolution),
        order=3,
        mode="edge",
        preserve_range=True,
    )
    aligned = np.clip(np.rint(warped), 0, 255).astype(np.uint8)
    return Alignment(aligned, transform_points(matrix, points).astype(np.float32))


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Applies a 3×3 affine matrix to (N, 2) points."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:2, :2].T + matrix[:2, 2]


def _prefilter(image: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, int]:
    """Box-shrinks the source by an integer factor when the warp would shrink it a lot.

    Bicubic sampling alone aliases when shrinking more than about 2×; a box reduction first
    keeps fine detail (hair, eyelashes) from turning into noise.
    """
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:2, :2]))))
    shrink = int(1.0 / scale / 1.5) if scale > 0 else 1
    if shrink < 2:
        return image, 1
    reduced = Image.fromarray(image).reduce(shrink)
    return np.asarray(reduced), shrink
