import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from idphoto.sample_data.portraits import draw_portrait
from idphoto.training.swd import sliced_wasserstein_distance

SET_SIZE = 48


def _portraits_64(seed, count):
    rng = np.random.default_rng(seed)
    return np.stack(
        [
            np.asarray(
                Image.fromarray(draw_portrait(rng).image).resize((64, 64), Image.Resampling.BOX)
            )
            for _ in range(count)
        ]
    )


@pytest.fixture(scope="module")
def reference():
    return _portraits_64(seed=1, count=SET_SIZE)


@pytest.fixture(scope="module")
def independent():
    """Another sample of the same distribution: the distance every defect must beat."""
    return _portraits_64(seed=2, count=SET_SIZE)


def _noisy(images, sigma, seed=0):
    noise = np.random.default_rng(seed).normal(0, sigma, images.shape)
    return np.clip(images + noise, 0, 255).round().astype(np.uint8)


def _blurred(images, sigma):
    smooth = ndimage.gaussian_filter(images.astype(np.float32), (0, sigma, sigma, 0))
    return np.clip(smooth, 0, 255).round().astype(np.uint8)


def _colour_cast(images, amount):
    return np.clip(images.astype(int) + [amount, 0, -amount], 0, 255).astype(np.uint8)


def test_identical_sets_score_zero_at_every_level(reference):
    result = sliced_wasserstein_distance(reference, reference.copy())
    assert result.per_level == (0.0, 0.0, 0.0)
    assert result.mean == 0.0


def test_one_level_per_halving_down_to_min_resolution(reference):
    assert sliced_wasserstein_distance(reference, reference).resolutions == (64, 32, 16)
    coarse = sliced_wasserstein_distance(reference, reference, min_resolution=32)
    assert coarse.resolutions == (64, 32) and len(coarse.per_level) == 2
    big = np.repeat(np.repeat(reference[:4], 2, axis=1), 2, axis=2)
    result = sliced_wasserstein_distance(big, big)
    assert result.resolutions == (128, 64, 32, 16) and len(result.per_level) == 4


@pytest.mark.parametrize(
    ("defect", "level"),
    [
        (lambda images: _noisy(images, sigma=8), 0),
        (lambda images: _blurred(images, sigma=1.0), 0),
        (lambda images: _colour_cast(images, amount=16), -1),
    ],
    ids=["noise", "blur", "colour_cast"],
)
def test_a_defective_copy_scores_worse_than_an_independent_sample(
    reference, independent, defect, level
):
    baseline = sliced_wasserstein_distance(reference, independent)
    damaged = sliced_wasserstein_distance(reference, defect(reference))
    assert damaged.mean > baseline.mean
    # Fine defects show at the finest level, a colour cast at the coarsest (low-pass) one.
    assert damaged.per_level[level] > 2 * baseline.per_level[level]


def test_distance_grows_with_the_amount_of_noise(reference):
    means = [
        sliced_wasserstein_distance(reference, _noisy(reference, sigma)).mean
        for sigma in (2, 4, 8, 16)
    ]
    assert means == sorted(means) and len(set(means)) == 4


def test_the_same_seed_gives_the_same_result_and_another_seed_a_close_one(reference, independent):
    first = sliced_wasserstein_distance(reference, independent, seed=3)
    assert sliced_wasserstein_distance(reference, independent, seed=3) == first
    other = sliced_wasserstein_distance(reference, independent, seed=4)
    assert other != first
    assert other.mean == pytest.approx(first.mean, rel=0.25)


def test_uint8_and_minus_one_to_one_floats_give_the_same_distance(reference, independent):
    as_uint8 = sliced_wasserstein_distance(reference, independent)
    as_float = sliced_wasserstein_distance(reference / 127.5 - 1, independent / 127.5 - 1)
    mixed = sliced_wasserstein_distance(reference, (independent / 127.5 - 1).astype(np.float32))
    assert as_float.per_level == pytest.approx(as_uint8.per_level, rel=1e-4)
    assert mixed.per_level == pytest.approx(as_uint8.per_level, rel=1e-4)


def test_grey_images_are_compared_like_colour_ones(reference, independent):
    grey = reference.mean(axis=-1, keepdims=True).round().astype(np.uint8)
    grey_other = independent.mean(axis=-1, keepdims=True).round().astype(np.uint8)
    assert sliced_wasserstein_distance(grey, grey).mean == 0.0
    baseline = sliced_wasserstein_distance(grey, grey_other)
    assert baseline.resolutions == (64, 32, 16)
    assert sliced_wasserstein_distance(grey, _noisy(grey, sigma=8)).mean > baseline.mean


def test_sets_of_different_sizes_are_compared_symmetrically(reference, independent):
    fewer = SET_SIZE // 2
    baseline = sliced_wasserstein_distance(reference, independent[:fewer])
    swapped = sliced_wasserstein_distance(independent[:fewer], reference)
    assert swapped.per_level == pytest.approx(baseline.per_level, rel=1e-4)
    damaged = sliced_wasserstein_distance(reference, _noisy(reference[:fewer], sigma=8))
    assert damaged.mean > baseline.mean


@pytest.mark.parametrize(
    ("fake", "message"),
    [
        (np.full((2, 64, 64, 3), 200.0), r"\[-1, 1\]"),
        (np.zeros((2, 32, 32, 3), np.uint8), r"\(H, W, C\)"),
        (np.zeros((2, 64, 64, 4), np.uint8), "C 1 or 3"),
        (np.zeros((2, 64, 64, 3), np.int32), "uint8 or float"),
    ],
    ids=["float_0_255", "other_size", "four_channels", "int32"],
)
def test_images_in_the_wrong_form_are_refused(reference, fake, message):
    with pytest.raises(ValueError, match=message):
        sliced_wasserstein_distance(reference, fake)
