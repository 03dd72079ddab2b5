"""Framing a generated square to a preset: exact pixel size, centred crop, background colour."""

import numpy as np
import pytest
from scipy import ndimage

from idphoto.generation.framing import crop_box, frame_photo, recolour_background
from idphoto.generation.presets import load_presets

GREY = (200, 200, 200)
SKIN = (190, 130, 100)
SHIRT = (40, 50, 110)
PRESETS = load_presets()


def _portrait(side=128, background_noise=2, seed=0):
    """A square ID-style photo: plain grey background with a little noise, an oval head with
    background-grey eyes, and shoulders reaching the bottom edge. Returns (image, subject mask)."""
    rng = np.random.default_rng(seed)
    image = np.empty((side, side, 3), np.float32)
    image[:] = GREY
    image += rng.integers(-background_noise, background_noise + 1, image.shape)
    rows, cols = np.mgrid[:side, :side] / side
    head = ((cols - 0.5) / 0.2) ** 2 + ((rows - 0.45) / 0.27) ** 2 <= 1
    shoulders = (rows >= 0.78) & (np.abs(cols - 0.5) <= 0.38)
    image[head] = SKIN
    image[shoulders] = SHIRT
    eyes = (((cols - 0.42) ** 2 + (rows - 0.42) ** 2) <= 0.03**2) | (
        ((cols - 0.58) ** 2 + (rows - 0.42) ** 2) <= 0.03**2
    )
    image[eyes] = GREY  # the same colour as the background, but enclosed by the face
    return np.clip(image, 0, 255).astype(np.uint8), head | shoulders


@pytest.mark.parametrize("name", sorted(PRESETS.presets))
def test_output_is_exactly_the_preset_pixel_size(name):
    preset = PRESETS.preset(name)
    for side in (8, 64, 128):
        framed = frame_photo(_portrait(side)[0], preset)
        assert framed.image.shape == (preset.height_px, preset.width_px, 3)
        assert framed.image.dtype == np.uint8


@pytest.mark.parametrize(
    ("width", "height", "aspect", "box"),
    [
        (100, 100, 35 / 45, (100 / 2 - 35 / 45 * 50, 0, 100 / 2 + 35 / 45 * 50, 100)),
        (100, 100, 1.0, (0, 0, 100, 100)),
        (100, 50, 1.0, (25, 0, 75, 50)),
        (100, 100, 2.0, (0, 25, 100, 75)),
    ],
)
def test_crop_box_is_centred_and_keeps_the_full_side(width, height, aspect, box):
    assert crop_box(width, height, aspect) == pytest.approx(box)


def _striped(side=128):
    """Grey, with red outer columns (5% each side) and a green top stripe."""
    image = np.full((side, side, 3), 128, np.uint8)
    edge = side // 20
    image[:, :edge] = image[:, -edge:] = (255, 0, 0)
    image[: side // 10] = (0, 255, 0)
    return image


def _red(pixels):
    return (pixels[..., 0] > 200) & (pixels[..., 1] < 60)


def test_portrait_preset_crops_the_sides_and_keeps_the_full_height():
    framed = frame_photo(_striped(), PRESETS.preset("passport-35x45"), recolour=False).image
    assert not _red(framed).any()  # 35/45 keeps the middle 78%: the outer 5% are cut
    assert (framed[:20, 200, 1] > 240).all() and (framed[:20, 200, 0] < 15).all()  # top stripe


def test_square_preset_keeps_the_whole_square():
    framed = frame_photo(_striped(), PRESETS.preset("us-2x2in"), recolour=False).image
    assert _red(framed[100:, :20]).all() and _red(framed[100:, -20:]).all()


def test_plain_background_takes_the_preset_colour_and_the_subject_is_untouched():
    preset = PRESETS.preset("one-inch-25x35")
    image, subject = _portrait()
    framed = frame_photo(image, preset)
    plain = frame_photo(image, preset, recolour=False).image
    assert framed.recoloured
    blue = np.array(preset.background_rgb)
    for y, x in ((0, 0), (0, -1), (60, 5), (60, -6), (250, 10)):
        assert tuple(framed.image[y, x]) == tuple(blue)
    # Away from its outline (the soft edge and Lanczos reach), the subject keeps every pixel;
    # that includes the background-coloured eyes, which the face encloses.
    inside = _subject_in_output(subject, preset, framed.image.shape)
    assert inside.sum() > 0.25 * inside.size
    assert np.array_equal(framed.image[inside], plain[inside])
    left_eye = _output_point((0.42, 0.42), preset, framed.image.shape)
    assert inside[left_eye] and np.abs(framed.image[left_eye].astype(int) - GREY).max() <= 4


def _output_point(point, preset, shape):
    """(row, col) in the framed photo of a point (x, y) given as shares of the square's side."""
    left, _, right, _ = crop_box(1.0, 1.0, preset.aspect)
    x, y = point
    return round(y * shape[0]), round((x - left) / (right - left) * shape[1])


def _subject_in_output(subject, preset, shape):
    """The subject mask mapped into the framed photo, shrunk by 8 px from its outline."""
    side = subject.shape[0]
    left, _, right, _ = crop_box(side, side, preset.aspect)
    rows = (np.arange(shape[0]) + 0.5) * side / shape[0]
    cols = left + (np.arange(shape[1]) + 0.5) * (right - left) / shape[1]
    mapped = subject[rows.astype(int)[:, None], cols.astype(int)[None, :]]
    return ndimage.binary_erosion(mapped, iterations=8)


def test_busy_background_is_left_as_generated():
    preset = PRESETS.preset("passport-35x45")
    image, subject = _portrait()
    noise = np.random.default_rng(1).integers(0, 256, image.shape, dtype=np.uint8)
    image[~subject] = noise[~subject]
    framed = frame_photo(image, preset)
    assert not framed.recoloured
    assert np.array_equal(framed.image, frame_photo(image, preset, recolour=False).image)


def test_border_spread_threshold_decides_what_is_plain():
    image, _ = _portrait(background_noise=12)
    assert not recolour_background(image, (255, 255, 255), max_border_spread=5.0).recoloured
    assert recolour_background(image, (255, 255, 255), max_border_spread=40.0).recoloured


def test_recolouring_has_a_soft_edge():
    image, _ = _portrait(background_noise=0)
    recoloured = recolour_background(image, (0, 0, 255)).image
    row = recoloured[round(0.45 * 128), :64].astype(int)  # background, then the left cheek
    blue = row[:, 2] - row[:, 0]
    assert blue[0] == 255 and blue[-1] < 0
    assert ((blue > -60) & (blue < 255)).any()  # a blended pixel between the two


def test_the_soft_edge_is_a_few_pixels_of_the_photo_wide():
    # A 64 px generator enlarged 8x to a passport photo: the background is found at 64 px, but
    # the blend between the new colour and the subject must stay as narrow as at full size.
    preset = PRESETS.preset("passport-35x45")
    image, _ = _portrait(side=64, background_noise=0)
    framed = frame_photo(image, preset).image.astype(int)
    plain = frame_photo(image, preset, recolour=False).image.astype(int)
    colour = np.array(preset.background_rgb)
    blended = np.any(framed != plain, axis=2) & np.any(framed != colour, axis=2)
    rows = range(round(0.3 * framed.shape[0]), round(0.6 * framed.shape[0]))  # through the head
    widest = max(int(blended[row].sum()) for row in rows)  # two edges per row
    assert 0 < widest <= 8
