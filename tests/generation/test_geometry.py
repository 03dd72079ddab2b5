"""ID-photo geometry: bands per preset, framing a face into them, and flagging photos outside."""

import matplotlib.cbook
import numpy as np
import pytest
import skimage.data
from PIL import Image

from idphoto.config import ConfigError
from idphoto.faces.align import align_face
from idphoto.generation.framing import frame_photo
from idphoto.generation.geometry import (
    FaceGeometry,
    GeometryBands,
    check_geometry,
    framing_box,
    framing_target,
)
from idphoto.generation.measure import PhotoMeasurer
from idphoto.generation.presets import default_path, load_presets

PRESETS = load_presets()
ICAO = PRESETS.preset("passport-35x45").geometry


@pytest.fixture(scope="module")
def measurer():
    measurer = PhotoMeasurer()
    measurer.warm_up()
    return measurer


@pytest.fixture(scope="module")
def aligned_portraits(measurer):
    """The public-domain portraits, aligned as ingest aligns training photos (head 70 % of a
    128-px square, eyes 45 % from the top): what a generator trained on them draws."""
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        hopper = np.asarray(Image.open(handle).convert("RGB"))
    portraits = []
    for photo in (skimage.data.astronaut(), hopper):
        landmarks = measurer.detector.detect(photo)[0].landmarks
        portraits.append(align_face(photo, landmarks, 128, 0.70, 0.45).image)
    return portraits


def _face(head=70.0, eye=(64.0, 57.6), roll=0.0, centre=None):
    return FaceGeometry(
        eye_mid=eye,
        head_height_px=head,
        eye_distance_px=head / 3.6,
        roll_degrees=roll,
        centre_x=eye[0] if centre is None else centre,
    )


def test_every_preset_names_the_source_of_its_bands():
    for preset in PRESETS.presets.values():
        assert preset.geometry.source.strip()
        low, high = preset.geometry.head_height_mm
        assert 0 < low < high < preset.height_mm


@pytest.mark.parametrize("name", sorted(PRESETS.presets))
def test_framing_target_lies_in_the_middle_half_of_every_band(name):
    preset = PRESETS.preset(name)
    bands = preset.geometry
    target = framing_target(bands, preset.height_mm, _face(head=0.7 * 128), 128)
    head_low, head_high = (mm / preset.height_mm for mm in bands.head_height_mm)
    quarter = (head_high - head_low) / 4
    assert head_low + quarter - 1e-9 <= target.head_height <= head_high - quarter + 1e-9
    eye_low, eye_high = bands.eye_line_from_bottom
    quarter = (eye_high - eye_low) / 4
    assert eye_low + quarter - 1e-9 <= 1 - target.eye_line_from_top <= eye_high - quarter + 1e-9


def test_framing_box_puts_the_face_at_the_target():
    face = _face(head=90.0, eye=(70.0, 60.0))
    target = framing_target(ICAO, 45, face, 128)
    left, top, right, bottom = framing_box(face, target, 35 / 45)
    assert face.head_height_px / (bottom - top) == pytest.approx(target.head_height)
    assert (face.eye_mid[1] - top) / (bottom - top) == pytest.approx(target.eye_line_from_top)
    assert (left + right) / 2 == pytest.approx(face.centre_x)
    assert (right - left) / (bottom - top) == pytest.approx(35 / 45)


def test_a_top_margin_band_sets_the_eye_line():
    japan = PRESETS.preset("japan-35x45")
    target = framing_target(japan.geometry, japan.height_mm, _face(head=0.7 * 128), 128)
    crown_mm = (target.eye_line_from_top - 0.48 * target.head_height) * japan.height_mm
    assert 3 <= crown_mm <= 5  # the middle half of 2-6 mm


@pytest.mark.parametrize("name", sorted(PRESETS.presets))
def test_framed_real_portraits_are_inside_the_face_bands(name, measurer, aligned_portraits):
    preset = PRESETS.preset(name)
    for portrait in aligned_portraits:
        photo = measurer.frame(portrait, preset).image
        check = measurer.check(photo, preset)
        face_failures = set(check.failed) - {"background"}  # their backgrounds are not plain
        assert not face_failures, (name, check.to_dict())


def test_a_centre_crop_of_a_us_photo_is_flagged_and_named(measurer, aligned_portraits):
    us = PRESETS.preset("us-2x2in")
    photo = frame_photo(aligned_portraits[0], us).image  # no face given: centre crop
    check = measurer.check(photo, us)
    assert not check.passed
    assert {"head_height", "eye_line"} & set(check.failed)
    assert check.measured["head_height_mm"] > 33  # a head drawn at 70 % of 50.8 mm


def test_a_photo_without_a_face_is_flagged(measurer):
    preset = PRESETS.preset("passport-35x45")
    flat = np.full((preset.height_px, preset.width_px, 3), 235, np.uint8)
    check = measurer.check(flat, preset)
    assert check.failed == ("no_face",)
    assert check.measured["background_spread"] == 0


@pytest.mark.parametrize(
    ("face", "failure"),
    [
        (_face(head=300.0, eye=(206.5, 239.0)), "head_height"),
        (_face(head=360.0, eye=(206.5, 400.0)), "eye_line"),
        (_face(head=360.0, eye=(206.5, 239.0), roll=12.0), "roll"),
        (_face(head=360.0, eye=(206.5, 239.0), centre=260.0), "centre"),
        (_face(head=360.0, eye=(206.5, 60.0)), "top_margin"),
    ],
)
def test_each_measurement_outside_its_band_is_named(face, failure):
    japan = PRESETS.preset("japan-35x45")
    check = check_geometry(face, 1, 413, 531, 45, japan.geometry, background_spread=0.0)
    assert failure in check.failed and not check.passed


def test_a_face_inside_every_band_passes():
    japan = PRESETS.preset("japan-35x45")
    face = _face(head=400.0, eye=(206.5, 239.0))
    check = check_geometry(face, 1, 413, 531, 45, japan.geometry, background_spread=3.0)
    assert check.passed, check.to_dict()


def test_busy_background_several_faces_and_file_size_are_flagged():
    online = PRESETS.preset("china-visa-online-354x472")
    face = _face(head=300.0, eye=(177.0, 472 * 0.42))
    busy = check_geometry(face, 1, 354, 472, 40, online.geometry, background_spread=40.0)
    assert "background" in busy.failed
    crowd = check_geometry(None, 2, 354, 472, 40, online.geometry, background_spread=1.0)
    assert crowd.failed == ("multiple_faces",)
    big = check_geometry(face, 1, 354, 472, 40, online.geometry, 1.0, file_bytes=150_000)
    assert "file_kb" in big.failed and big.measured["file_kb"] == 150.0


def test_bands_that_are_not_min_max_pairs_are_refused(tmp_path):
    bands = GeometryBands("x", (36, 32), (0.5, 0.7), 0.05, 8, 16)
    assert bands.check() == "head_height_mm: must be [min, max] with 0 <= min <= max"
    path = tmp_path / "presets.yaml"
    path.write_text(default_path().read_text().replace("[32, 36]", "[36, 32]", 1))
    with pytest.raises(ConfigError, match=r"passport-35x45\.geometry\.head_height_mm"):
        load_presets(path)
