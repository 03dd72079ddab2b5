"""Content digests and perceptual hashes for exact and near-duplicate photo detection."""

from __future__ import annotations

import hashlib

import imagehash
import numpy as np
from PIL import Image


def pixel_digest(image: np.ndarray) -> str:
    """Returns the sha256 of the decoded pixels and their shape (same photo, any encoding)."""
    digest = hashlib.sha256(repr(image.shape).encode())
    digest.update(np.ascontiguousarray(image).tobytes())
    return digest.hexdigest()


def perceptual_hash(image: np.ndarray, hash_size: int) -> int:
    """Returns the DCT perceptual hash (pHash) of an RGB image as an int of hash_size² bits.

    pHash survives re-encoding, resizing and small colour changes, so a photo re-uploaded at
    another size or quality lands within a few bits of the original.
    """
    return int(str(imagehash.phash(Image.fromarray(image), hash_size=hash_size)), 16)


def hamming_distance(a: int, b: int) -> int:
    """Returns the number of differing bits between two hashes."""
    return (a ^ b).bit_count()


def band_keys(value: int, bits: int, max_distance: int) -> list[tuple[int, int]]:
    """Splits a hash into `max_distance + 1` bands, returned as (band index, band value) keys.

    Two hashes within `max_distance` bits must agree exactly on at least one band (pigeonhole),
    so grouping by these keys finds every near-duplicate pair without comparing all pairs.
    """
    bands = max_distance + 1
    edges = [round(i * bits / bands) for i in range(bands + 1)]
    return [(i, (value >> edges[i]) & ((1 << (edges[i + 1] - edges[i])) - 1)) for i in range(bands)]
