import json
import math
import os

import numpy as np
import pytest

from idphoto.sample_data.portraits import draw_portrait

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before mtcnn pulls in TensorFlow

DETECTOR_SEEDS = range(1000, 1030)
KEYPOINT_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


def _draw(seed, size=256):
    return draw_portrait(np.random.default_rng(seed), size)


def _luminance(image, point):
    x, y = (int(round(c)) for c in point)
    return image[y - 1 : y + 2, x - 1 : x + 2].mean()


@pytest.fixture(scope="module")
def portraits():
    return [_draw(seed) for seed in DETECTOR_SEEDS]


@pytest.fixture(scope="module")
def detections(portraits):
    from mtcnn import MTCNN

    detector = MTCNN(device="CPU:0")
    return [detector.detect_faces(portrait.image) for portrait in portraits]


def test_same_seed_gives_identical_pixels_and_landmarks():
    first, second = _draw(7), _draw(7)
    assert np.array_equal(first.image, second.image)
    assert np.array_equal(first.landmarks, second.landmarks)
    assert first.attributes == second.attributes


def test_different_seeds_give_different_images():
    first, second = _draw(7), _draw(8)
    assert np.abs(first.image.astype(int) - second.image.astype(int)).mean() > 5


@pytest.mark.parametrize("size", [256, 512])
def test_portrait_is_a_square_uint8_rgb_image_with_five_float_landmarks(size):
    portrait = _draw(3, size)
    assert portrait.image.shape == (size, size, 3)
    assert portrait.image.dtype == np.uint8
    assert portrait.landmarks.shape == (5, 2)
    assert portrait.landmarks.dtype == np.float32


def test_sizes_below_256_are_refused():
    with pytest.raises(ValueError, match="size"):
        _draw(0, size=128)


def test_landmarks_lie_inside_the_image_in_facial_order(portraits):
    for portrait in portraits:
        left_eye, right_eye, nose, mouth_left, mouth_right = portrait.landmarks
        assert np.all((portrait.landmarks > 0) & (portrait.landmarks < 256))
        assert left_eye[0] < nose[0] < right_eye[0]
        assert mouth_left[0] < mouth_right[0]
        assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


def test_eye_landmarks_sit_on_pupils_darker_than_the_whites_beside_them(portraits):
    for portrait in portraits:
        eye_gap = np.linalg.norm(portrait.landmarks[1] - portrait.landmarks[0])
        for x, y in portrait.landmarks[:2]:
            sclera = [(x - 0.12 * eye_gap, y), (x + 0.12 * eye_gap, y)]
            pupil = _luminance(portrait.image, (x, y))
            assert pupil < min(_luminance(portrait.image, point) for point in sclera)


def test_eye_line_tilts_by_the_drawn_roll_angle(portraits):
    for portrait in portraits:
        (x0, y0), (x1, y1) = portrait.landmarks[:2]
        tilt = math.degrees(math.atan2(y1 - y0, x1 - x0))
        assert tilt == pytest.approx(portrait.attributes["roll_degrees"], abs=0.01)


def test_attributes_are_json_and_name_the_drawn_look(portraits):
    attributes = json.loads(json.dumps(portraits[0].attributes))
    for name in ("skin_tone", "hair_style", "hair_colour", "background", "roll_degrees", "yaw"):
        assert name in attributes


def test_backgrounds_skin_tones_and_hair_styles_vary_across_seeds(portraits):
    corners = {tuple(portrait.image[2, 2] // 16) for portrait in portraits}
    skin_brightness = [sum(portrait.attributes["skin_rgb"]) / 3 for portrait in portraits]
    hair_styles = {portrait.attributes["hair_style"] for portrait in portraits}
    assert len(corners) >= 6
    assert max(skin_brightness) - min(skin_brightness) > 100  # light to dark skin
    assert {"bald", "short", "long"} <= hair_styles


def test_detector_finds_exactly_one_face_in_most_portraits(detections):
    single = sum(len(faces) == 1 for faces in detections)
    assert single >= 0.85 * len(detections)


def test_detector_keypoints_agree_with_true_landmarks(portraits, detections):
    errors = []
    for portrait, faces in zip(portraits, detections, strict=True):
        if len(faces) != 1:
            continue
        found = np.array([faces[0]["keypoints"][name] for name in KEYPOINT_NAMES])
        eye_gap = np.linalg.norm(portrait.landmarks[1] - portrait.landmarks[0])
        errors.append(np.linalg.norm(found - portrait.landmarks, axis=1).mean() / eye_gap)
    assert np.mean(errors) < 0.2
