import math

import matplotlib.cbook
import numpy as np
import pytest
import skimage.data
import yaml
from PIL import Image

from idphoto.config import ConfigError, config_dir
from idphoto.data.ingest_config import load_ingest_config
from idphoto.faces.align import align_face, eye_distance, id_framing_matrix, transform_points
from idphoto.faces.compliance import (
    check_id_framing,
    id_compliance,
    load_compliance_tolerances,
)
from idphoto.faces.detect import FaceDetector
from idphoto.sample_data.portraits import draw_portrait

INGEST = load_ingest_config()
FRAMING = INGEST.align
TOL = load_compliance_tolerances()


@pytest.fixture(scope="module")
def detector():
    return FaceDetector(INGEST.faces.detect_max_side)


@pytest.fixture(scope="module")
def portraits():
    rng = np.random.default_rng(2024)
    return [draw_portrait(rng) for _ in range(16)]


def _aligned(portrait, resolution):
    share, eye_line = FRAMING.head_height_share, FRAMING.eye_line_from_top
    return align_face(portrait.image, portrait.landmarks, resolution, share, eye_line)


def _ideal_landmarks(points, resolution):
    matrix = id_framing_matrix(
        points, resolution, FRAMING.head_height_share, FRAMING.eye_line_from_top
    )
    return transform_points(matrix, points)


def _about_eye_midpoint(points, linear):
    middle = (points[0] + points[1]) / 2
    return (points - middle) @ np.asarray(linear).T + middle


def _rotated(points, degrees):
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return _about_eye_midpoint(points, [[c, -s], [s, c]])


def _off_frame(image, variant):
    """A 128-px view of a 256-px portrait with the head shifted sideways, too big or too small."""
    if variant == 0:
        view = image[:176, :176]  # head towards the right
    elif variant == 1:
        view = image[:176, 80:]  # head towards the left
    elif variant == 2:
        view = image[64:192, 64:192]  # zoomed in about twice
    else:
        view = np.pad(image, ((96, 96), (96, 96), (0, 0)), mode="edge")  # zoomed out
    return np.asarray(Image.fromarray(view).resize((128, 128), Image.Resampling.LANCZOS))


@pytest.mark.parametrize("resolution", [64, 128, 256])
def test_ideally_framed_landmarks_comply_at_any_resolution(portraits, resolution):
    for portrait in portraits:
        check = check_id_framing(
            _ideal_landmarks(portrait.landmarks, resolution), resolution, FRAMING, TOL
        )
        assert check.compliant and check.reason == "ok"
        assert check.roll_degrees == pytest.approx(0, abs=TOL.max_roll_degrees / 2)
        assert check.centre_offset == pytest.approx(0, abs=1e-6)
        assert check.eye_line_offset == pytest.approx(0, abs=1e-6)
        assert check.size_error == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize("degrees", [15, -15])
def test_tilted_eye_line_fails_on_roll(portraits, degrees):
    points = _rotated(_ideal_landmarks(portraits[0].landmarks, 128), degrees)
    check = check_id_framing(points, 128, FRAMING, TOL)
    assert not check.compliant and check.reason == "roll"
    assert check.roll_degrees == pytest.approx(degrees, abs=TOL.max_roll_degrees / 2)


@pytest.mark.parametrize("shift", [0.2, -0.2])
def test_head_shifted_sideways_is_off_centre(portraits, shift):
    points = _ideal_landmarks(portraits[0].landmarks, 128) + [shift * 128, 0]
    check = check_id_framing(points, 128, FRAMING, TOL)
    assert check.reason == "off_centre"
    assert check.centre_offset == pytest.approx(shift)


def test_head_shifted_down_misses_the_eye_line(portraits):
    points = _ideal_landmarks(portraits[0].landmarks, 128) + [0, 0.2 * 128]
    check = check_id_framing(points, 128, FRAMING, TOL)
    assert check.reason == "eye_line"
    assert check.eye_line_offset == pytest.approx(0.2)


@pytest.mark.parametrize("factor", [1.6, 1 / 1.6])
def test_head_too_big_or_too_small_fails_on_size(portraits, factor):
    points = _about_eye_midpoint(_ideal_landmarks(portraits[0].landmarks, 128), factor * np.eye(2))
    check = check_id_framing(points, 128, FRAMING, TOL)
    assert check.reason == "size"
    assert check.size_error == pytest.approx(factor - 1)


def test_head_sized_by_its_eye_to_mouth_distance_complies_despite_close_set_eyes():
    # A turned head: eyes 30 px apart but 45 px above the mouth, so alignment scales by the
    # eye-to-mouth estimate and the aligned eye distance is well below head/3.6.
    turned = np.array([[185.0, 100], [215, 100], [200, 125], [188, 145], [212, 145]])
    points = _ideal_landmarks(turned, 128)
    expected_by_eyes = FRAMING.head_height_share * 128 / 3.6
    assert eye_distance(points) < (1 - TOL.max_size_error) * expected_by_eyes
    check = check_id_framing(points, 128, FRAMING, TOL)
    assert check.compliant
    assert check.size_error == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize("resolution", [64, 128])
def test_portraits_aligned_by_ingest_framing_are_found_compliant(detector, portraits, resolution):
    images = np.stack([_aligned(p, resolution).image for p in portraits])
    report = id_compliance(images, detector, FRAMING, TOL)
    assert report.count == len(portraits)
    assert report.rate >= 0.85, report.reasons


def test_public_domain_portraits_aligned_by_detected_landmarks_are_compliant(detector):
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        hopper = np.asarray(Image.open(handle).convert("RGB"))
    aligned = []
    for photo in (skimage.data.astronaut(), hopper):
        face = max(detector.detect(photo), key=lambda f: f.area)
        for resolution in (64, 128):
            share, eye_line = FRAMING.head_height_share, FRAMING.eye_line_from_top
            image = align_face(photo, face.landmarks, resolution, share, eye_line).image
            aligned.append(image)
    reports = [id_compliance(image[None], detector, FRAMING, TOL) for image in aligned]
    assert [r.reasons for r in reports] == [{"ok": 1}] * 4


def test_the_same_portraits_shifted_or_zoomed_mostly_fail(detector, portraits):
    images = np.stack([_off_frame(p.image, i % 4) for i, p in enumerate(portraits)])
    report = id_compliance(images, detector, FRAMING, TOL)
    assert report.rate <= 0.25, report.reasons
    assert {"off_centre", "size"} <= set(report.reasons)


def test_blank_images_have_no_face(detector):
    blank = np.stack([np.full((64, 64, 3), value, np.uint8) for value in (0, 128, 255)])
    report = id_compliance(blank, detector, FRAMING, TOL)
    assert report.rate == 0
    assert report.reasons == {"no_face": 3}


def test_float_and_grey_images_are_read_like_uint8_rgb(detector, portraits):
    images = np.stack([_aligned(p, 64).image for p in portraits[:8]])
    as_uint8 = id_compliance(images, detector, FRAMING, TOL)
    as_float = id_compliance(images / 127.5 - 1, detector, FRAMING, TOL)
    assert as_float == as_uint8
    grey = images.mean(axis=-1, keepdims=True).round().astype(np.uint8)
    assert id_compliance(grey, detector, FRAMING, TOL).rate >= 0.75


def test_floats_outside_minus_one_to_one_are_refused(detector):
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        id_compliance(np.full((1, 64, 64, 3), 200.0), detector, FRAMING, TOL)


def test_an_empty_set_has_an_undefined_rate(detector):
    report = id_compliance(np.zeros((0, 64, 64, 3), np.uint8), detector, FRAMING, TOL)
    assert report.count == 0 and math.isnan(report.rate) and report.reasons == {}


def test_negative_or_missing_tolerances_are_refused_by_name(tmp_path):
    values = yaml.safe_load((config_dir() / "compliance.yaml").read_text())
    path = tmp_path / "compliance.yaml"
    path.write_text(yaml.safe_dump({**values, "max_size_error": -1}))
    with pytest.raises(ConfigError, match="max_size_error"):
        load_compliance_tolerances(path)
    path.write_text(yaml.safe_dump({k: v for k, v in values.items() if k != "max_roll_degrees"}))
    with pytest.raises(ConfigError, match="max_roll_degrees"):
        load_compliance_tolerances(path)
