"""The watermark's carrier patterns and the blind search that finds them in a suspect image.

The mark is one periodic tile of `TILE` x `TILE` pixels repeated over the photo: the sum of one
band-limited noise pattern per payload bit, each signed by its bit. Every bit owns its own
random share of the Fourier bins in an annulus of mid frequencies, so the patterns are exactly
orthogonal and a bit's soft value is the cross-correlation of the image with its pattern.

Detection needs no original: the suspect's luma is band-passed, weighted by the inverse of its
local energy (textured regions carry the host, not the mark) and folded modulo the tile. The
cyclic cross-correlations with all patterns, computed by FFT, give every bit's soft value at
every tile shift at once; their summed energy peaks at the shift where the photo's tiles start,
whatever the crop or the offset in a larger page. For resized copies the same is done at a few
candidate scales. Which candidate holds a real payload is for the caller to judge.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Iterator

import numpy as np
from PIL import Image
from scipy import fft, ndimage

TILE = 128  # pixels; a 413 x 531 photo holds 3 x 4 repeats, a 10 % crop still more than 2 x 3
BAND = (0.05, 0.15)  # cycles per pixel: low enough for JPEG q75 and a 0.5x resize to keep
PEAKS_PER_SCALE = 2  # tile shifts tried per scale: the strongest correlation peaks
_MIN_TILE = 2 * round(BAND[1] * TILE) + 4  # a folded tile smaller than this aliases the band
_LOCAL_ENERGY_SIGMA = 8.0  # pixels at the mark's scale: the window a region is weighed over
_NOISE_FLOOR = 1.0  # squared luma units added to the local energy: JPEG noise is not inflated
_SCALE_TOLERANCE = 0.003  # relative; candidate scales closer than this are the same scale


@dataclasses.dataclass(frozen=True)
class Candidate:
    """The soft payload read at one scale and tile shift.

    Attributes:
        scale: suspect pixels per pixel of the marked photo (0.5 for a half-size copy).
        shift: (x, y) of a tile origin in the suspect, in the marked photo's pixels, mod `TILE`.
        soft_bits: (bits,) correlations; the sign is the bit (positive for a 1).
        peak_ratio: the shift's correlation energy over the median over all shifts.
    """

    scale: float
    shift: tuple[int, int]
    soft_bits: np.ndarray
    peak_ratio: float


@functools.cache
def carrier_bins(bits: int, seed: int) -> tuple[np.ndarray, ...]:
    """Each bit's Fourier bins and their random phases, dealt from one annulus.

    Args:
        bits: the payload length.
        seed: seeds the deal and the phases (the same seed gives the same mark).

    Returns:
        One (n, 3) float array per bit: the bin's signed (u, v) index on the tile's grid (u
        along x) and its phase in radians. Only one of each conjugate pair is listed.
    """
    freqs = np.fft.fftfreq(TILE)
    fu, fv = np.meshgrid(freqs, freqs)  # fu varies along x (columns)
    radius = np.hypot(fu, fv)
    in_band = (radius >= BAND[0]) & (radius <= BAND[1])
    upper_half = (fv > 0) | ((fv == 0) & (fu > 0))  # one bin of each conjugate pair
    rows, cols = np.nonzero(in_band & upper_half)
    u = np.round(fu[rows, cols] * TILE)
    v = np.round(fv[rows, cols] * TILE)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(u))
    phases = rng.uniform(0.0, 2 * np.pi, len(u))
    return tuple(
        np.stack([u[order[k::bits]], v[order[k::bits]], phases[order[k::bits]]], axis=1)
        for k in range(bits)
    )


@functools.cache
def carrier_spectra(bits: int, seed: int, grid: int) -> np.ndarray:
    """The bits' patterns as (bits, grid, grid) complex spectra, each of unit RMS in space.

    The same bins on a smaller or larger grid are the same patterns resampled to that period,
    so one set of bins serves every scale.
    """
    spectra = np.zeros((bits, grid, grid), np.complex128)
    for k, bins in enumerate(carrier_bins(bits, seed)):
        u, v = bins[:, 0].astype(int), bins[:, 1].astype(int)
        values = np.exp(1j * bins[:, 2])
        spectra[k, v % grid, u % grid] = values
        spectra[k, -v % grid, -u % grid] = np.conj(values)
    # Parseval: a pattern with 2n unit bins on an N x N grid has RMS sqrt(2n) / N^2.
    norms = np.sqrt([2 * len(bins) for bins in carrier_bins(bits, seed)]) / grid**2
    spectra /= norms[:, None, None]
    spectra.flags.writeable = False  # cached: shared by every call
    return spectra


@functools.cache
def carrier_patterns(bits: int, seed: int) -> np.ndarray:
    """The bits' (bits, TILE, TILE) float32 patterns in space, each of unit RMS."""
    patterns = fft.ifft2(carrier_spectra(bits, seed, TILE), axes=(1, 2)).real.astype(np.float32)
    patterns.flags.writeable = False
    return patterns


def mark_tile(signs: np.ndarray, seed: int) -> np.ndarray:
    """The (TILE, TILE) float32 mark of unit RMS for `signs` (+1 or -1 per bit).

    The patterns are orthogonal, so their signed sum has RMS sqrt(bits) before scaling.
    """
    patterns = carrier_patterns(len(signs), seed)
    tile = np.tensordot(signs.astype(np.float32), patterns, axes=1)
    return tile / np.float32(np.sqrt(len(signs)))


def candidates(
    luma: np.ndarray, scales: Iterable[float], bits: int, seed: int
) -> Iterator[Candidate]:
    """Reads the payload at each scale in turn, the strongest tile shifts first.

    Args:
        luma: (H, W) float32 luma of the suspect image.
        scales: suspect pixels per marked pixel, in the order to try.
        bits: the payload length.
        seed: the carrier seed.

    Yields:
        `PEAKS_PER_SCALE` candidates per scale, none for a scale at which the image is too
        small to hold half a tile. Whether one carries a real payload is the caller's call.
    """
    for scale in scales:
        yield from _candidates_at(luma, scale, bits, seed)


def unique_scales(scales: Iterable[float]) -> list[float]:
    """`scales` in their order, without ones within `_SCALE_TOLERANCE` of an earlier one."""
    kept: list[float] = []
    for scale in scales:
        if all(abs(scale / other - 1) > _SCALE_TOLERANCE for other in kept):
            kept.append(scale)
    return kept


def _candidates_at(luma: np.ndarray, scale: float, bits: int, seed: int) -> list[Candidate]:
    """The `PEAKS_PER_SCALE` strongest tile shifts at `scale`, read; none if too small."""
    # Work at the suspect's resolution or below (an enlarged copy is first shrunk back), and
    # resample so the tile spans a whole number of pixels: folding needs an integer period.
    grid = min(TILE, round(TILE * scale))
    if grid < _MIN_TILE:
        return []
    resampled = _rescale(luma, grid / (TILE * scale))
    if min(resampled.shape) < grid // 2:
        return []
    folded = _fold(_whiten(resampled, sigma_scale=grid / TILE), grid)
    spectra = carrier_spectra(bits, seed, grid)[:, :, : grid // 2 + 1]
    product = fft.rfft2(folded)[None] * np.conj(spectra)
    correlations = fft.irfft2(product, s=(grid, grid), axes=(1, 2))
    energy = np.square(correlations).sum(axis=0)
    median = float(np.median(energy)) or 1.0
    candidates = []
    for row, col in _peaks(energy, PEAKS_PER_SCALE):
        shift = (round(col * TILE / grid) % TILE, round(row * TILE / grid) % TILE)
        candidates.append(
            Candidate(scale, shift, correlations[:, row, col], float(energy[row, col] / median))
        )
    return candidates


def _rescale(luma: np.ndarray, zoom: float) -> np.ndarray:
    """`luma` magnified by exactly `zoom` (Pillow's antialiased bicubic); as is when about 1.

    The output is cut to whole pixels and the source box to match, so the scale is exact
    rather than rounded to the output's size.
    """
    if abs(zoom - 1) < 1e-3:
        return luma
    height, width = luma.shape
    size = (max(1, int(width * zoom)), max(1, int(height * zoom)))
    box = (0.0, 0.0, size[0] / zoom, size[1] / zoom)
    image = Image.fromarray(luma.astype(np.float32))
    return np.asarray(image.resize(size, Image.Resampling.BICUBIC, box=box))


def _whiten(luma: np.ndarray, sigma_scale: float) -> np.ndarray:
    """Band-passes `luma` to the mark's band and divides it by its local energy.

    Dividing by the local energy weighs every region by how little host signal it has: the
    plain background, where the mark is nearly alone, counts most; hair, edges and a page's
    text, whose energy would otherwise swamp the correlation, count little.
    """
    low, high = BAND[0] / sigma_scale, BAND[1] / sigma_scale  # cycles per resampled pixel
    # Gaussian gain exp(-2 pi^2 sigma^2 f^2): 0.7 at `high` for the smoothing, 0.3 at `low` for
    # the background it subtracts; the band in between passes at 0.65-0.85.
    detail = ndimage.gaussian_filter(luma, 0.135 / high)
    band = detail - ndimage.gaussian_filter(luma, 0.247 / low)
    energy = ndimage.gaussian_filter(np.square(band), _LOCAL_ENERGY_SIGMA * sigma_scale)
    return band / (energy + _NOISE_FLOOR)


def _fold(image: np.ndarray, period: int) -> np.ndarray:
    """Sums `image` modulo `period` in both directions (zero-padded to whole periods)."""
    height, width = image.shape
    padded = np.zeros((-(-height // period) * period, -(-width // period) * period), np.float64)
    padded[:height, :width] = image
    rows, cols = padded.shape[0] // period, padded.shape[1] // period
    return padded.reshape(rows, period, cols, period).sum(axis=(0, 2))


def _peaks(energy: np.ndarray, count: int) -> list[tuple[int, int]]:
    """The `count` largest cyclic local maxima of `energy`, largest first, as (row, col)."""
    is_peak = energy == ndimage.maximum_filter(energy, size=5, mode="wrap")
    rows, cols = np.nonzero(is_peak)
    order = np.argsort(energy[rows, cols])[::-1][:count]
    return [(int(rows[i]), int(cols[i])) for i in order]
