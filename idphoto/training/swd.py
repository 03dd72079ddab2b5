"""Multi-scale sliced Wasserstein distance (SWD) between two sets of images.

The method of ProGAN (Karras et al. 2018, appendix D, https://arxiv.org/abs/1710.10196; their
`metrics/sliced_wasserstein.py`): each image is split into a Laplacian pyramid, 7×7 patches
are drawn at random from every level, and the two sets of patch descriptors are compared by
the average 1-D Wasserstein distance of their projections on random unit directions. The
finest level measures texture and noise, the coarsest one colour and layout.

One deliberate difference: ProGAN normalises each set's descriptors by that set's own
per-channel mean and std, which hides a global colour or contrast shift. Here both sets share
the statistics of their union, so such a shift counts (it does for ID photos: a tinted
backdrop is a defect).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage

# Binomial 5-tap filter (1 4 6 4 1)/16, separable: the Gaussian of cv2.pyrDown and ProGAN.
_GAUSSIAN_TAPS = np.array([1, 4, 6, 4, 1], np.float32) / 16


@dataclasses.dataclass(frozen=True)
class SwdResult:
    """SWD per pyramid level and their mean.

    Attributes:
        per_level: distance at each level, finest first, multiplied by 1e3 as ProGAN reports it.
        resolutions: side of each level in pixels, finest first (64, 32, 16 for 64-px images).
        mean: mean of `per_level`.
    """

    per_level: tuple[float, ...]
    resolutions: tuple[int, ...]
    mean: float


def sliced_wasserstein_distance(
    real: np.ndarray,
    fake: np.ndarray,
    *,
    seed: int = 0,
    patches_per_image: int = 128,
    patch_size: int = 7,
    dirs_per_repeat: int = 128,
    dir_repeats: int = 4,
    min_resolution: int = 16,
) -> SwdResult:
    """Compares two image sets level by level of their Laplacian pyramids.

    Patch positions and directions come from `seed` alone, so the same inputs always give the
    same result, and two sets of the same shape are sampled at the same positions (identical
    sets score exactly 0).

    Args:
        real: (N, H, W, C) images, uint8 in [0, 255] or float in [-1, 1]; C is 1 or 3.
        fake: (M, H, W, C) images in either of those ranges (each set is read by its dtype);
            M may differ from N.
        seed: seeds patch positions and projection directions.
        patches_per_image: patches drawn from each image at each level.
        patch_size: odd side of the square patches.
        dirs_per_repeat: random directions per repeat.
        dir_repeats: repeats; the distance is averaged over all their directions.
        min_resolution: the pyramid stops before its side would drop below this.

    Returns:
        The distance at each level and its mean.

    Raises:
        ValueError: badly shaped or ranged images, or settings that do not fit them.
    """
    real_pixels, fake_pixels = _as_pixels(real, "real"), _as_pixels(fake, "fake")
    if real_pixels.shape[1:] != fake_pixels.shape[1:]:
        raise ValueError(
            f"real and fake images must share (H, W, C), got {real_pixels.shape[1:]} "
            f"and {fake_pixels.shape[1:]}"
        )
    resolutions = _pyramid_resolutions(real_pixels.shape[1], real_pixels.shape[2], min_resolution)
    _check_settings(resolutions, patches_per_image, patch_size, dirs_per_repeat, dir_repeats)
    real_levels = _laplacian_pyramid(real_pixels, len(resolutions))
    fake_levels = _laplacian_pyramid(fake_pixels, len(resolutions))
    distances = []
    for level, (real_level, fake_level) in enumerate(zip(real_levels, fake_levels, strict=True)):
        # The same stream for both sets: equal shapes get equal positions, which also cuts the
        # variance of the difference.
        real_desc = _patches(real_level, patches_per_image, patch_size, (seed, level))
        fake_desc = _patches(fake_level, patches_per_image, patch_size, (seed, level))
        real_desc, fake_desc = _normalise_jointly(real_desc, fake_desc)
        directions = _directions(real_desc.shape[1], dirs_per_repeat * dir_repeats, (seed, level))
        distances.append(1e3 * _sliced_distance(real_desc, fake_desc, directions))
    return SwdResult(tuple(distances), tuple(resolutions), float(np.mean(distances)))


def _as_pixels(images: np.ndarray, name: str) -> np.ndarray:
    """Checks a batch and returns it as float32 on the [0, 255] scale."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"{name} must be (N, H, W, C) with C 1 or 3, got shape {images.shape}")
    if images.shape[0] == 0:
        raise ValueError(f"{name} holds no images")
    if images.dtype == np.uint8:
        return images.astype(np.float32)
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"{name} must be uint8 or float, got {images.dtype}")
    if not np.isfinite(images).all() or np.abs(images).max() > 1 + 1e-3:
        raise ValueError(f"float {name} images must lie in [-1, 1]")
    return (images.astype(np.float32) + 1) * 127.5


def _pyramid_resolutions(height: int, width: int, min_resolution: int) -> list[int]:
    """Sides of the pyramid levels, finest first (ProGAN: halve while at least the minimum)."""
    if height != width:
        raise ValueError(f"images must be square, got {height}×{width}")
    if min_resolution < 1 or height < min_resolution:
        raise ValueError(
            f"images of side {height} are smaller than min_resolution={min_resolution}"
        )
    resolutions = [height]
    while resolutions[-1] % 2 == 0 and resolutions[-1] // 2 >= min_resolution:
        resolutions.append(resolutions[-1] // 2)
    return resolutions


def _check_settings(
    resolutions: list[int],
    patches_per_image: int,
    patch_size: int,
    dirs_per_repeat: int,
    dir_repeats: int,
) -> None:
    if patch_size < 1 or patch_size % 2 == 0:
        raise ValueError(f"patch_size must be a positive odd number, got {patch_size}")
    if patch_size > resolutions[-1]:
        raise ValueError(
            f"patch_size={patch_size} does not fit the coarsest level ({resolutions[-1]} px)"
        )
    for name, value in (
        ("patches_per_image", patches_per_image),
        ("dirs_per_repeat", dirs_per_repeat),
        ("dir_repeats", dir_repeats),
    ):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")


def _blur(images: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Separable filter over H and W of (N, H, W, C), mirroring the edges as ProGAN does."""
    images = ndimage.convolve1d(images, taps, axis=1, mode="mirror")
    return ndimage.convolve1d(images, taps, axis=2, mode="mirror")


def _laplacian_pyramid(images: np.ndarray, num_levels: int) -> list[np.ndarray]:
    """Band-pass levels, finest first; the last level is the low-pass remainder."""
    levels = [images]
    for _ in range(num_levels - 1):
        smaller = _blur(levels[-1], _GAUSSIAN_TAPS)[:, ::2, ::2]
        upsampled = np.zeros_like(levels[-1])
        upsampled[:, ::2, ::2] = smaller
        # Zero-stuffing keeps a quarter of the samples, so the interpolating filter is 4× (2×
        # per axis).
        levels[-1] = levels[-1] - _blur(upsampled, 2 * _GAUSSIAN_TAPS)
        levels.append(smaller)
    return levels


def _patches(level: np.ndarray, per_image: int, size: int, stream: tuple[int, int]) -> np.ndarray:
    """Draws `per_image` random patches from each image, as (count, size, size, C)."""
    count, height, width, _ = level.shape
    half = size // 2
    rng = np.random.default_rng([*stream, 0])
    ys = rng.integers(half, height - half, size=(count, per_image)).reshape(-1)
    xs = rng.integers(half, width - half, size=(count, per_image)).reshape(-1)
    image = np.repeat(np.arange(count), per_image)
    offsets = np.arange(-half, half + 1)
    rows = (ys[:, None] + offsets)[:, :, None]
    cols = (xs[:, None] + offsets)[:, None, :]
    return level[image[:, None, None], rows, cols]


def _normalise_jointly(real: np.ndarray, fake: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whitens each channel by the statistics of both sets together, then flattens patches."""
    channels = real.shape[-1]
    # Channel-major copy: float32 means along a contiguous axis use pairwise summation.
    both = np.concatenate([real.reshape(-1, channels), fake.reshape(-1, channels)]).T.copy()
    mean, std = both.mean(axis=1), both.std(axis=1)
    std[std == 0] = 1.0  # a flat channel (blank images) carries no signal

    def flat(desc: np.ndarray) -> np.ndarray:
        desc = desc.reshape(len(desc), -1, channels)
        desc -= mean
        desc /= std
        return desc.reshape(len(desc), -1)

    return flat(real), flat(fake)


def _directions(dims: int, count: int, stream: tuple[int, int]) -> np.ndarray:
    """`count` random unit vectors in `dims` dimensions, as (dims, count)."""
    rng = np.random.default_rng([*stream, 1])
    directions = rng.standard_normal((dims, count))
    directions /= np.linalg.norm(directions, axis=0, keepdims=True)
    return directions.astype(np.float32)


def _sliced_distance(real: np.ndarray, fake: np.ndarray, directions: np.ndarray) -> float:
    """Mean over directions of the 1-D Wasserstein-1 distance between the projections."""
    # (directions, patches): each row sorted is that direction's empirical quantile function.
    real_proj, fake_proj = directions.T @ real.T, directions.T @ fake.T
    real_proj.sort(axis=1)
    fake_proj.sort(axis=1)
    n, m = real_proj.shape[1], fake_proj.shape[1]
    if n == m:
        return float(np.abs(real_proj - fake_proj).mean())
    # Unequal sizes: integrate |F⁻¹(t) - G⁻¹(t)| over the pieces where both quantiles are flat.
    steps = np.union1d(np.arange(n + 1) / n, np.arange(m + 1) / m)
    middles, widths = (steps[:-1] + steps[1:]) / 2, np.diff(steps)
    real_at = real_proj[:, np.minimum((middles * n).astype(int), n - 1)]
    fake_at = fake_proj[:, np.minimum((middles * m).astype(int), m - 1)]
    return float((np.abs(real_at - fake_at) @ widths).mean())
