import io
import random

import numpy as np
from PIL import Image

from idphoto.data.dedup import band_keys, hamming_distance, perceptual_hash, pixel_digest


def _photo(seed):
    rng = np.random.default_rng(seed)
    small = (rng.random((8, 8, 3)) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(small).resize((128, 128), Image.Resampling.BICUBIC))


def test_pixel_digest_is_equal_for_equal_pixels_only():
    a = _photo(1)
    assert pixel_digest(a) == pixel_digest(a.copy())
    b = a.copy()
    b[0, 0, 0] ^= 1
    assert pixel_digest(a) != pixel_digest(b)


def test_reencoded_smaller_photo_is_perceptually_near_and_another_is_far():
    original = _photo(2)
    buffer = io.BytesIO()
    Image.fromarray(original).resize((96, 96)).save(buffer, "JPEG", quality=70)
    reencoded = np.asarray(Image.open(buffer))
    near = hamming_distance(perceptual_hash(original, 8), perceptual_hash(reencoded, 8))
    far = hamming_distance(perceptual_hash(original, 8), perceptual_hash(_photo(3), 8))
    assert near <= 6 < far


def test_hashes_within_the_distance_always_share_a_band():
    rng = random.Random(0)
    for _ in range(500):
        a = rng.getrandbits(64)
        b = a
        for bit in rng.sample(range(64), rng.randint(0, 6)):
            b ^= 1 << bit
        assert set(band_keys(a, 64, 6)) & set(band_keys(b, 64, 6))


def test_bands_cover_every_bit_once():
    keys = band_keys((1 << 64) - 1, 64, 6)
    widths = [value.bit_length() for _, value in keys]
    assert sum(widths) == 64 and len(keys) == 7
