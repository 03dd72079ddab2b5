"""Measures generated photos with the face detector: the face framing places and the one the
geometry check judges (`idphoto.generation.geometry`)."""

from __future__ import annotations

import dataclasses

import numpy as np

from idphoto.faces.compliance import ComplianceTolerances, load_compliance_tolerances
from idphoto.faces.detect import FaceDetector, confident_faces
from idphoto.generation.framing import FramedPhoto, background_spread, frame_photo
from idphoto.generation.geometry import (
    FaceGeometry,
    GeometryCheck,
    check_geometry,
    framing_box,
    framing_target,
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
        found = confident_faces(
            image, self.detector, self.tolerances.min_detect_side, self.tolerances.min_confidence
        )
        found.sort(key=lambda face: face.area, reverse=True)
        return [FaceGeometry.from_landmarks(face.landmarks) for face in found]

    def the_face(self, image: np.ndarray) -> FaceGeometry | None:
        """The image's face when the detector finds exactly one, else None."""
        faces = self.faces(image)
        return faces[0] if len(faces) == 1 else None

    def frame(self, image: np.ndarray, preset: Preset) -> FramedPhoto:
        """Frames a generated square so its face lies inside the preset's bands.

        The face is found on the source, framed, found again on the framed photo and framed
        once more from that second finding: the detector's landmarks on a 64-px source and on
        a 500-px photo differ by a few per cent of the head, and the framed photo is the one
        the check judges. Without a face on the source, the crop is centred.
        """
        face = self.the_face(image)
        framed = frame_photo(image, preset, face)
        if face is None:
            return framed
        seen = self.the_face(framed.image)
        if seen is None:
            return framed
        target = framing_target(preset.geometry, preset.height_mm, face, image.shape[0])
        box = framing_box(face, target, preset.aspect)
        return frame_photo(image, preset, seen.mapped(box, preset.height_px))

    def check(
        self, photo: np.ndarray, preset: Preset, file_bytes: int | None = None
    ) -> GeometryCheck:
        """Measures a final photo and checks it against its preset's bands."""
        faces = self.faces(photo)
        return check_geometry(
            faces[0] if len(faces) == 1 else None,
            len(faces),
            preset.width_px,
            preset.height_px,
            preset.height_mm,
            preset.geometry,
            background_spread(photo),
            file_bytes,
        )
