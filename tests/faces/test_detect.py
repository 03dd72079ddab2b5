import numpy as np
import pytest
import skimage.data
from PIL import Image

from idphoto.data.ingest_config import load_ingest_config
from idphoto.errors import PhotoRejected
from idphoto.faces.detect import DetectedFace, FaceDetector, choose_face

FACES = load_ingest_config().faces


def _face(size, confidence=0.99):
    return DetectedFace((0, 0, size, size), confidence, np.zeros((5, 2)))


def _reason(faces):
    with pytest.raises(PhotoRejected) as info:
        choose_face(faces, min_confidence=0.9, dominance_ratio=4.0)
    return info.value.reason


def test_no_confident_face_is_no_face():
    assert _reason([]) == "no_face"
    assert _reason([_face(100, confidence=0.5)]) == "no_face"


def test_two_similar_faces_are_multiple_faces():
    assert _reason([_face(100), _face(80)]) == "multiple_faces"


def test_a_clearly_dominant_face_is_chosen_over_a_small_one():
    big = _face(100)
    assert choose_face([_face(40), big], 0.9, 4.0) is big


def test_low_confidence_faces_do_not_count_as_extra_faces():
    big = _face(100)
    assert choose_face([big, _face(100, confidence=0.3)], 0.9, 4.0) is big


def test_a_photo_over_the_detector_size_is_shrunk_and_its_face_given_in_its_own_pixels(
    monkeypatch,
):
    from mtcnn import MTCNN  # imported late: it loads TensorFlow

    seen = []
    real_detect_faces = MTCNN.detect_faces

    def recording(self, image, *args, **kwargs):
        seen.append(image.shape[:2])
        return real_detect_faces(self, image, *args, **kwargs)

    monkeypatch.setattr(MTCNN, "detect_faces", recording)
    side = FACES.detect_max_side
    native = skimage.data.astronaut()
    scale = 2
    large = np.asarray(Image.fromarray(native).resize((1024, 1024), Image.Resampling.BICUBIC))
    assert native.shape[0] <= side < large.shape[0]
    detector = FaceDetector(side)
    on_large, on_native = (
        choose_face(detector.detect(photo), FACES.min_confidence, FACES.dominance_ratio)
        for photo in (large, native)
    )
    assert seen == [(side, side), (512, 512)]  # only the large photo was shrunk
    # Found at two sizes, the face agrees to within a few native pixels once scaled.
    assert np.abs(on_large.landmarks - on_native.landmarks * scale).max() <= 3 * scale
    assert np.abs(np.subtract(on_large.box, np.multiply(on_native.box, scale))).max() <= 5 * scale
