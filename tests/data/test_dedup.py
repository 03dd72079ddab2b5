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


def test_configured_hash_tells_copies_of_sample_portraits_from_distinct_ones():
    """Aligned-looking portraits share their low frequencies; the configured hash must still
    keep distinct ones apart (a looser one rejected 40 % of a large sample set) while every
    re-encoded, resized, noisy or brightened copy stays within the threshold."""
    from idphoto.data.ingest_config import load_ingest_config
    from idphoto.sample_data.portraits import draw_portrait

    dedup = load_ingest_config().dedup
    portraits = [draw_portrait(np.random.default_rng([7, i]), 256).image for i in range(120)]
    hashes = [perceptual_hash(image, dedup.hash_size) for image in portraits]
    closest = min(hamming_distance(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1 :])
    assert closest > dedup.max_distance
    for image, hashed in zip(portraits[:20], hashes[:20], strict=True):
        for copy in _copies(image):
            assert hamming_distance(hashed, perceptual_hash(copy, dedup.hash_size)) <= (
                dedup.max_distance
            )


def _copies(image: np.ndarray) -> list[np.ndarray]:
    photo = Image.fromarray(image)
    found = []
    for scale, quality in ((0.75, 80), (1.0, 50), (0.5, 95)):
        buffer = io.BytesIO()
        photo.resize((int(photo.width * scale),) * 2).save(buffer, "JPEG", quality=quality)
        found.append(np.asarray(Image.open(buffer).convert("RGB")))
    noise = np.random.default_rng(0).normal(0, 6, image.shape)
    found.append(np.clip(image + noise, 0, 255).astype(np.uint8))
    found.append(np.clip(image * 1.1, 0, 255).astype(np.uint8))
    return found
