"""Face detection with MTCNN (its weights ship inside the `mtcnn` wheel; nothing is downloaded)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import numpy as np
from PIL import Image

from idphoto.errors import PhotoRejected

_KEYPOINTS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclasses.dataclass(frozen=True)
class DetectedFace:
    """One face found by the detector, in the coordinates of the image it was given."""

    box: tuple[float, float, float, float]  # x, y, width, height
    confidence: float
    landmarks: np.ndarray  # (5, 2): left_eye, right_eye, nose, mouth_left, mouth_right

    @property
    def area(self) -> float:
        """The box's area in pixels."""
        return self.box[2] * self.box[3]


class FaceDetector:
    """MTCNN that shrinks large photos before detection, since its cost grows with pixel count.

    The network is built on first use, so a job whose rows all carry landmarks never loads it.
    """

    def __init__(self, max_side: int = 640, device: str = "CPU:0"):
        self._max_side = max_side
        self._device = device
        self._mtcnn = None

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        """Returns every face in an (H, W, 3) uint8 RGB image, in that image's pixels."""
        small, factor = _shrink(image, self._max_side)
        found = self._network().detect_faces(small)
        return [_to_face(result, factor) for result in found]

    def detect_many(self, images: Sequence[np.ndarray]) -> list[list[DetectedFace]]:
        """`detect` of several images of one size in one call of the network: per image, its
        TensorFlow calls and Python glue cost about as much for a batch of 16 small images as
        for one (14 against 69 ms per 160-px image on 2 cores)."""
        if len(images) < 2:
            return [self.detect(image) for image in images]
        shrunk = [_shrink(image, self._max_side) for image in images]
        found = self._network().detect_faces([small for small, _ in shrunk])
        return [
            [_to_face(result, factor) for result in results]
            for results, (_, factor) in zip(found, shrunk, strict=True)
        ]

    def _network(self):
        if self._mtcnn is None:
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            from mtcnn import MTCNN  # imported late: it loads TensorFlow

            self._mtcnn = MTCNN(device=self._device)
        return self._mtcnn


def confident_faces(
    image: np.ndarray, detector: FaceDetector, min_side: int, min_confidence: float
) -> list[DetectedFace]:
    """The faces scoring at least `min_confidence` in an (H, W, 3) uint8 RGB image, with their
    boxes and landmarks in that image's pixels.

    An image whose shorter side is below `min_side` is enlarged to it before detection: MTCNN
    misses small faces, and its whole-pixel landmarks are coarse on them.
    """
    return confident_faces_many([image], detector, min_side, min_confidence)[0]


def confident_faces_many(
    images: Sequence[np.ndarray], detector: FaceDetector, min_side: int, min_confidence: float
) -> list[list[DetectedFace]]:
    """`confident_faces` of several images of one size, detected in one call."""
    if not images:
        return []
    height, width = images[0].shape[:2]
    factor = max(1.0, min_side / min(height, width))
    if factor > 1:
        size = (round(width * factor), round(height * factor))
        images = [
            np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC))
            for image in images
        ]
        factor = size[1] / height
    found = detector.detect_many(images)
    # Pixel centres map as (x + 0.5) / factor - 0.5 under resizing.
    return [
        [
            DetectedFace(
                tuple(v / factor for v in face.box),
                face.confidence,
                (face.landmarks + 0.5) / factor - 0.5,
            )
            if factor != 1
            else face
            for face in faces
            if face.confidence >= min_confidence
        ]
        for faces in found
    ]


def choose_face(
    faces: Sequence[DetectedFace], min_confidence: float, dominance_ratio: float
) -> DetectedFace:
    """Picks the photo's subject, or rejects a photo with no face or several comparable ones.

    Args:
        faces: detections for one photo.
        min_confidence: detections scoring below this are ignored.
        dominance_ratio: with several faces, the largest is the subject when its box area is at
            least this many times the next largest (a portrait with a small face behind).

    Raises:
        PhotoRejected: `no_face` or `multiple_faces`.
    """
    confident = sorted(
        (f for f in faces if f.confidence >= min_confidence), key=lambda f: f.area, reverse=True
    )
    if not confident:
        raise PhotoRejected("no_face", "no face detected")
    if len(confident) > 1 and confident[0].area < dominance_ratio * confident[1].area:
        raise PhotoRejected("multiple_faces", f"{len(confident)} faces of similar size")
    return confident[0]


def _shrink(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    height, width = image.shape[:2]
    longest = max(height, width)
    if longest <= max_side:
        return image, 1.0
    factor = longest / max_side
    size = (max(1, round(width / factor)), max(1, round(height / factor)))
    small = Image.fromarray(image).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(small), factor


def _to_face(result: dict, factor: float) -> DetectedFace:
    x, y, w, h = (float(v) * factor for v in result["box"])
    points = np.array([result["keypoints"][k] for k in _KEYPOINTS], dtype=np.float64) * factor
    return DetectedFace((x, y, w, h), float(result["confidence"]), points)
