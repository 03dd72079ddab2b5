import numpy as np
import pytest

from idphoto.errors import PhotoRejected
from idphoto.faces.detect import DetectedFace, choose_face


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
