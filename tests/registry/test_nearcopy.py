"""Near-copy search on real small data: synthetic sample portraits and public-domain photos.

Training photos are the sample set's synthetic portraits (the same seeds `idphoto sample` draws)
at 64×64; near-copies are those photos edited as a generator might reproduce them.
"""

import matplotlib.cbook
import numpy as np
import pytest
import skimage.data
from PIL import Image, ImageFilter

from idphoto.registry.nearcopy import (
    nearest_training_photos,
    pairs_figure,
    pairs_grid,
    thumbnails,
)
from idphoto.sample_data.portraits import draw_portrait

SIDE = 64
TRAINING = 24
HELD_OUT = 8
NEIGHBOURS = 5  # as in configs/promote/default.yaml
MAX_RATIO = 0.45  # as in configs/promote/default.yaml


def _to_unit(image: Image.Image) -> np.ndarray:
    small = image.convert("RGB").resize((SIDE, SIDE), Image.Resampling.BOX)
    return np.asarray(small, np.float32) / 255.0


def _from_unit(image: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8))


def _centre_square(image: Image.Image) -> Image.Image:
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side))


@pytest.fixture(scope="module")
def portraits():
    """Synthetic portraits 0..31 of the sample set (seed 0): 24 to train on, 8 held out."""
    images = [
        _to_unit(Image.fromarray(draw_portrait(np.random.default_rng([0, index])).image))
        for index in range(TRAINING + HELD_OUT)
    ]
    return np.stack(images[:TRAINING]), np.stack(images[TRAINING:])


@pytest.fixture(scope="module")
def training(portraits):
    return portraits[0]


@pytest.fixture(scope="module")
def real_portraits():
    """Eileen Collins (scikit-image) and Grace Hopper (matplotlib), both public domain."""
    astronaut = Image.fromarray(skimage.data.astronaut())
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        hopper = Image.open(handle)
        hopper.load()
    return np.stack([_to_unit(_centre_square(astronaut)), _to_unit(_centre_square(hopper))])


def _noisy(image):
    noise = np.random.default_rng(7).normal(0.0, 0.05, image.shape)
    return np.clip(image + noise, 0.0, 1.0)


def _brighter(image):
    return np.clip(image + 0.1, 0.0, 1.0)


def _more_contrast(image):
    return np.clip((image - image.mean()) * 1.3 + image.mean(), 0.0, 1.0)


def _less_contrast(image):
    return (image - image.mean()) * 0.6 + image.mean()


def _blurred(image):
    blurred = _from_unit(image).filter(ImageFilter.GaussianBlur(radius=2))
    return np.asarray(blurred, np.float32) / 255.0


def _half_resolution(image):
    half = _from_unit(image).resize((SIDE // 2, SIDE // 2), Image.Resampling.BOX)
    return np.asarray(half.resize((SIDE, SIDE), Image.Resampling.BILINEAR), np.float32) / 255.0


def _mirrored(image):
    return image[:, ::-1, :]


# Each edit is applied to a different training photo, so a match to the wrong photo shows.
EDITS = {
    3: _noisy,
    7: _brighter,
    9: _more_contrast,
    12: _less_contrast,
    15: _blurred,
    18: _half_resolution,
    21: _mirrored,
}


@pytest.fixture(scope="module")
def edited(training):
    """The edited copies, as float32 samples, in EDITS order."""
    return np.stack([edit(training[i]) for i, edit in EDITS.items()]).astype(np.float32)


@pytest.fixture(scope="module")
def edited_matches(edited, training):
    return nearest_training_photos(edited, [training], NEIGHBOURS)


@pytest.mark.parametrize(
    "position, photo, edit", [(p, i, e.__name__) for p, (i, e) in enumerate(EDITS.items())]
)
def test_edited_training_photo_is_a_near_copy_of_it(edited_matches, position, photo, edit):
    match = edited_matches[position]
    assert match.sample == position
    assert match.training == photo
    assert match.ratio < MAX_RATIO
    assert match.mirrored is (edit == "_mirrored")


def test_mirrored_copy_matches_exactly_as_its_mirror_image(edited_matches):
    match = edited_matches[list(EDITS).index(21)]
    assert match.mirrored
    assert match.distance < 1e-5  # flipping back restores the photo
    assert match.ratio < 1e-4


def test_held_out_portraits_are_not_flagged(portraits, real_portraits):
    training, held_out = portraits
    samples = np.concatenate([held_out, real_portraits])
    matches = nearest_training_photos(samples, [training], NEIGHBOURS)
    assert [m.sample for m in matches] == list(range(len(samples)))
    ratios = [m.ratio for m in matches]
    assert min(ratios) >= MAX_RATIO, ratios


def test_ratio_is_nearest_distance_over_mean_of_the_next_neighbours(portraits):
    training, held_out = portraits
    matches = nearest_training_photos(held_out, [training], NEIGHBOURS)
    train_thumbs = thumbnails(training)
    for match in matches:
        sample = held_out[match.sample]
        view = thumbnails((sample[:, ::-1] if match.mirrored else sample)[None])[0]
        # RMS over thumbnail values, computed directly rather than by the |a|²+|b|²-2ab trick.
        distances = np.sqrt(((train_thumbs - view) ** 2).mean(axis=1))
        order = np.argsort(distances)
        assert match.training == order[0]
        assert match.distance == pytest.approx(distances[order[0]], rel=1e-6)
        expected = distances[order[0]] / distances[order[1 : NEIGHBOURS + 1]].mean()
        assert match.ratio == pytest.approx(expected, rel=1e-6)


def test_each_training_photo_matches_itself_at_distance_zero(training):
    matches = nearest_training_photos(training[:8], [training], NEIGHBOURS)
    assert [m.training for m in matches] == list(range(8))
    assert all(m.distance < 1e-5 and not m.mirrored for m in matches)


@pytest.mark.parametrize("chunk", [1, 4, 7, TRAINING - 1])
def test_chunk_size_does_not_change_the_matches(portraits, edited, chunk):
    training, held_out = portraits
    samples = np.concatenate([edited, held_out])
    whole = nearest_training_photos(samples, [training], NEIGHBOURS)
    chunks = (training[start : start + chunk] for start in range(0, TRAINING, chunk))
    chunked = nearest_training_photos(samples, chunks, NEIGHBOURS)
    assert [(m.sample, m.training, m.mirrored) for m in chunked] == [
        (m.sample, m.training, m.mirrored) for m in whole
    ]
    # Equal up to float rounding: chunks change the shapes BLAS multiplies, hence its rounding.
    close = {"rel": 1e-9, "abs": 1e-6}
    assert [m.distance for m in chunked] == pytest.approx([m.distance for m in whole], **close)
    assert [m.ratio for m in chunked] == pytest.approx([m.ratio for m in whole], **close)


def test_training_index_counts_across_chunks(training):
    # Photo 17 arrives in the third chunk of 7; its index is its position in the stream.
    chunks = [training[:7], training[7:14], training[14:]]
    (match,) = nearest_training_photos(_noisy(training[17])[None], chunks, NEIGHBOURS)
    assert match.training == 17


@pytest.mark.parametrize(
    "sizes",
    [[NEIGHBOURS], [2, 3], [1] * NEIGHBOURS],
    ids=["one-chunk", "two-chunks", "single-photo-chunks"],
)
def test_fewer_than_neighbours_plus_one_photos_raise(training, sizes):
    starts = np.cumsum([0, *sizes])
    chunks = [training[a:b] for a, b in zip(starts[:-1], starts[1:], strict=True)]
    with pytest.raises(ValueError, match=f"at least {NEIGHBOURS + 1} training photos, got 5"):
        nearest_training_photos(training[:2], chunks, NEIGHBOURS)


def test_exactly_neighbours_plus_one_photos_suffice(training):
    chunks = [training[:3], training[3 : NEIGHBOURS + 1]]
    matches = nearest_training_photos(training[4:5], chunks, NEIGHBOURS)
    assert matches[0].training == 4


def test_no_training_photos_raise(training):
    with pytest.raises(ValueError, match="got 0"):
        nearest_training_photos(training[:1], [], NEIGHBOURS)


# --- pairs_grid ------------------------------------------------------------------------------


def _as_uint8(image):
    return (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8)


def test_pairs_grid_puts_each_sample_beside_its_photo(edited, edited_matches, training):
    matches = sorted(edited_matches, key=lambda m: m.ratio)[:3]
    kept = {m.training: training[m.training] for m in matches}
    grid = pairs_grid(edited, kept, matches)
    assert grid.dtype == np.uint8
    assert grid.shape == (3 * SIDE, 2 * SIDE, 3)
    for row, match in enumerate(matches):
        band = grid[row * SIDE : (row + 1) * SIDE]
        expected = edited[match.sample][:, ::-1] if match.mirrored else edited[match.sample]
        assert np.array_equal(band[:, :SIDE], _as_uint8(expected))
        assert np.array_equal(band[:, SIDE:], _as_uint8(training[match.training]))


def test_pairs_grid_shows_a_mirrored_match_flipped_back(edited, edited_matches, training):
    match = edited_matches[list(EDITS).index(21)]
    assert match.mirrored
    grid = pairs_grid(edited, {21: training[21]}, [match])
    sample = edited[match.sample]
    assert np.array_equal(grid[:, :SIDE], _as_uint8(sample[:, ::-1]))
    assert not np.array_equal(grid[:, :SIDE], _as_uint8(sample))  # the portrait is asymmetric
    # Flipped back, the sample is the training photo again.
    assert np.abs(grid[:, :SIDE].astype(int) - grid[:, SIDE:].astype(int)).max() <= 1


def test_pairs_grid_makes_grayscale_rgb(edited, edited_matches, training):
    gray_samples = edited.mean(axis=-1, keepdims=True)
    gray_training = training.mean(axis=-1, keepdims=True)
    matches = edited_matches[:2]
    kept = {m.training: gray_training[m.training] for m in matches}
    grid = pairs_grid(gray_samples, kept, matches)
    assert grid.dtype == np.uint8
    assert grid.shape == (2 * SIDE, 2 * SIDE, 3)
    assert np.array_equal(grid[..., 0], grid[..., 1])
    assert np.array_equal(grid[..., 1], grid[..., 2])
    assert np.array_equal(grid[:SIDE, :SIDE, 0], _as_uint8(gray_samples[matches[0].sample, ..., 0]))


def test_pairs_grid_clips_out_of_range_pixels(training):
    samples = np.stack([np.full((SIDE, SIDE, 3), 1.7), np.full((SIDE, SIDE, 3), -0.3)])
    matches = nearest_training_photos(samples.astype(np.float32), [training], NEIGHBOURS)
    grid = pairs_grid(samples, {m.training: training[m.training] for m in matches}, matches)
    assert (grid[:SIDE, :SIDE] == 255).all()
    assert (grid[SIDE:, :SIDE] == 0).all()


def test_the_pairs_figure_enlarges_the_grid_beside_a_label_per_pair(
    edited, edited_matches, training
):
    matches = sorted(edited_matches, key=lambda m: m.ratio)[:3]
    kept = {m.training: training[m.training] for m in matches}
    ids = [f"photo-{i}" for i in range(TRAINING)]
    figure = pairs_figure(edited, kept, matches, ids, MAX_RATIO)
    grid = pairs_grid(edited, kept, matches)
    tile = figure.shape[1] - 330  # two enlarged images, then the labels
    assert figure.shape[0] == 28 + 3 * tile // 2 and tile == 2 * 128
    enlarged = figure[28:, :tile]
    # Nearest-neighbour enlargement: every second pixel is the grid's own.
    assert np.array_equal(enlarged[::2, ::2], grid)
    labels = figure[28:, tile:]
    assert (labels < 128).any(axis=2).sum() > 500  # text was drawn beside the pairs
