"""Measures generated photos with the face detector: the face framing places and the one the
geometry check judges (`idphoto.generation.geometry`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from idphoto.faces.compliance import ComplianceTolerances, load_compliance_tolerances
from idphoto.faces.detect import FaceDetector, confident_faces_many
from idphoto.generation.framing import FramedPhoto, background_spread, frame_photo
from idphoto.generation.geometry import (
    FaceGeometry,
    GeometryCheck,
    check_geometry,
    framing_box,
    framing_target,
    near_target,
)
from idphoto.generation.presets import Preset


@dataclasses.dataclass
class PhotoMeasurer:
    """Finds faces with the detector and settings the ID-compliance rate uses
    (`configs/compliance.yaml`: the confidence floor and the side small images are enlarged to).

    Safe to share between threads once `warm_up` has built the network.
    """

    tolerances: ComplianceTolerances = dataclasses.field(default_factory=load_compliance_tolerances)
    detector: FaceDetector = dataclasses.field(default_factory=FaceDetector)

    def warm_up(self) -> None:
        """Builds the detector's network now rather than in the first of several threads."""
        self.detector.detect(np.zeros((self.tolerances.min_detect_side,) * 2 + (3,), np.uint8))

    def faces(self, image: np.ndarray) -> list[FaceGeometry]:
        """The confident faces of an (H, W, 3) uint8 RGB image, largest first."""
        return self.faces_many([image])[0]

    def faces_many(self, images: Sequence[np.ndarray]) -> list[list[FaceGeometry]]:
        """`faces` of several images of one size, found in one call of the detector."""
        found = confident_faces_many(
            images, self.detector, self.tolerances.min_detect_side, self.tolerances.min_confidence
        )
        return [
            [
                FaceGeometry.from_landmarks(face.landmarks)
                for face in sorted(faces, key=lambda face: face.area, reverse=True)
            ]
            for faces in found
        ]

    def frame(self, image: np.ndarray, preset: Preset) -> FramedPhoto:
        """Frames a generated square so its face lies inside the preset's bands (see
        `frame_many`)."""
        return self.frame_many([image], preset)[0].framed

    def frame_many(self, images: Sequence[np.ndarray], preset: Preset) -> list[MeasuredPhoto]:
        """Frames generated squares of one size so their faces lie inside the preset's bands,
        and finds the faces on the framed photos.

        Each face is found on its source, framed, and found again on the framed photo; a photo
        whose face is not yet in the middle half of its bands is framed once more from that
        second finding and its faces found a third time: the detector's landmarks on a 64-px
        source and on a 500-px photo differ by a few per cent of the head, and the framed
        photo is the one the check judges. Without a face on the source, the crop is centred.
        The detector runs over the whole batch at once, not photo by photo.
        """
        sources = [_only(faces) for faces in self.faces_many(images)]
        pairs = zip(images, sources, strict=True)
        first = [frame_photo(image, preset, face) for image, face in pairs]
        seen = self.faces_many([photo.image for photo in first])
        measured: list[MeasuredPhoto | None] = []
        reframed = []
        for image, face, photo, found in zip(images, sources, first, seen, strict=True):
            again = _only(found)
            bands, height = preset.geometry, preset.height_px
            if face is None or again is None or near_target(again, bands, height, preset.height_mm):
                measured.append(MeasuredPhoto(photo, found))  # its faces are already found
                continue
            target = framing_target(preset.geometry, preset.height_mm, face, image.shape[0])
            box = framing_box(face, target, preset.aspect)
            measured.append(None)
            reframed.append(frame_photo(image, preset, again.mapped(box, preset.height_px)))
        finals = iter(self.faces_many([photo.image for photo in reframed]))
        reframed_photos = iter(reframed)
        return [
            photo if photo is not None else MeasuredPhoto(next(reframed_photos), next(finals))
            for photo in measured
        ]

    def check(
        self, photo: np.ndarray, preset: Preset, file_bytes: int | None = None
    ) -> GeometryCheck:
        """Measures a final photo and checks it against its preset's bands."""
        return check_measured(MeasuredPhoto(FramedPhoto(photo, False), self.faces(photo)), preset,
                              file_bytes)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class MeasuredPhoto:
    """A framed photo and the faces the detector found on it, largest first."""

    framed: FramedPhoto
    faces: list[FaceGeometry]


def check_measured(
    photo: MeasuredPhoto, preset: Preset, file_bytes: int | None = None
) -> GeometryCheck:
    """Checks a measured photo (and its file's size) against its preset's bands."""
    faces = photo.faces
    return check_geometry(
        faces[0] if len(faces) == 1 else None,
        len(faces),
        preset.width_px,
        preset.height_px,
        preset.height_mm,
        preset.geometry,
        background_spread(photo.framed.image),
        file_bytes,
    )


def _only(faces: list[FaceGeometry]) -> FaceGeometry | None:
    """The one face of a list of one, else None."""
    return faces[0] if len(faces) == 1 else None
