"""Framing of a generated square photo to an ID-photo preset: aspect, pixel size, background.

The generator's output is already in ID framing (head centred, eyes level). Given the face's
landmarks, framing crops the box that puts the head and eye line inside the preset's bands
(`idphoto.generation.geometry`), widening the picture by repeating its edge pixels where the box
reaches past what the generator drew; without them it crops to the preset's aspect around the
centre. It then resizes and, when the background is plain, replaces it with the preset's
colour. Pure numpy, SciPy and Pillow: no TensorFlow.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageChops, ImageFilter
from scipy import ndimage

from idphoto.generation.geometry import FaceGeometry, framing_box, framing_target
from idphoto.generation.presets import Preset

# Defaults of background recolouring, in 0-255 RGB units (Euclidean distance).
DEFAULT_MAX_BORDER_SPREAD = 16.0  # border pixels spread wider than this: background not plain
DEFAULT_COLOUR_TOLERANCE = 32.0  # pixels this close to the border colour count as background
_BAND_SHARE = 0.04  # width of the border band the background is estimated from, share of a side
_SIDE_BAND_HEIGHT = 0.6  # side bands stop above the shoulders, which often reach the edges
_EDGE_BLUR_SHARE = 0.08  # blur and fade of the edge that margins continue, share of a side
_RIM_SHARE = 0.04  # the rim of the picture margins do not continue, share of a side
_SPREAD_PERCENTILE = 90  # a few stray hair pixels in the band must not veto recolouring
_FEATHER_PX = 2.0  # width of the soft edge between background and subject, output pixels


class FramedPhoto(NamedTuple):
    """A framed photo and whether its background was replaced.

    Attributes:
        image: (height_px, width_px, 3) uint8 RGB.
        recoloured: False when the border was not plain and the background was left as generated.
    """

    image: np.ndarray
    recoloured: bool


def frame_photo(
    image: np.ndarray,
    preset: Preset,
    face: FaceGeometry | None = None,
    recolour: bool = True,
    max_border_spread: float = DEFAULT_MAX_BORDER_SPREAD,
    colour_tolerance: float = DEFAULT_COLOUR_TOLERANCE,
) -> FramedPhoto:
    """Frames a generated photo to `preset`: centre crop to its aspect, Lanczos resize, background.

    Args:
        image: (H, W, 3) uint8 RGB, normally square, in ID framing.
        preset: the target size, background colour and geometry bands.
        face: the face measured on `image`; None crops around the centre instead.
        recolour: replace a plain background with the preset's colour.
        max_border_spread: see `recolour_background`.
        colour_tolerance: see `recolour_background`.

    Returns:
        The photo at exactly `preset.width_px` x `preset.height_px`, and whether its background
        was recoloured.
    """
    _check_rgb(image)
    height, width = image.shape[:2]
    if face is None:
        box = crop_box(width, height, preset.aspect)
    else:
        target = framing_target(preset.geometry, preset.height_mm, face, height)
        image, box = _extend_to(image, framing_box(face, target, preset.aspect))
    size = (preset.width_px, preset.height_px)
    source = Image.fromarray(image)
    framed = np.asarray(source.resize(size, Image.Resampling.LANCZOS, box=box))
    if not recolour:
        return FramedPhoto(framed, False)
    # The background is judged and found on the crop at the smaller of the generator's and the
    # preset's resolution: an enlarged output holds no detail finer than the generator's pixels,
    # and the enlargement's Lanczos ringing beside strong edges would make a plain background
    # look busy. It is also where the search is cheap (50x64 px instead of 413x531 for a 64 px
    # generator and a passport photo); the mask is then scaled up to the photo.
    guide_height = min(round(box[3] - box[1]), preset.height_px)
    guide_width = max(1, round(guide_height * preset.aspect))
    guide = np.asarray(
        source.resize((guide_width, max(1, guide_height)), Image.Resampling.BILINEAR, box=box)
    )
    return recolour_background(
        framed, preset.background_rgb, max_border_spread, colour_tolerance, guide=guide
    )


def crop_box(width: int, height: int, aspect: float) -> tuple[float, float, float, float]:
    """Returns the centred (left, top, right, bottom) box of `aspect` (width / height).

    The box keeps the image's full height when the aspect is narrower than the image (portrait
    presets from a square), its full width when wider, and the whole image when equal. Edges
    are fractional so the resize samples exactly the right region.
    """
    if aspect <= 0:
        raise ValueError(f"aspect must be positive, got {aspect}")
    if width / height > aspect:
        crop_width = height * aspect
        left = (width - crop_width) / 2
        return (left, 0.0, left + crop_width, float(height))
    crop_height = width / aspect
    top = (height - crop_height) / 2
    return (0.0, top, float(width), top + crop_height)


def _extend_to(
    image: np.ndarray, box: tuple[float, float, float, float]
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The image widened until it holds `box`, and the box in the widened image's coordinates.

    The new margins continue the image's blurred edge: a plain background stays plain and the
    clothing at the bottom fades on in its own colours, where repeating the sharp edge pixels
    draws stripes and a flat fill would cut the shoulders off in a straight line.
    """
    height, width = image.shape[:2]
    left, top, right, bottom = box
    pad = [
        math.ceil(max(0.0, -top)),
        math.ceil(max(0.0, bottom - height)),
        math.ceil(max(0.0, -left)),
        math.ceil(max(0.0, right - width)),
    ]
    if not any(pad):
        return image, box
    reach = max(1.0, _EDGE_BLUR_SHARE * min(height, width))
    original = image.astype(np.float32)
    # A generator's outermost pixels are often off (its convolutions see padding there), so
    # the margins continue the picture from a little inside its edge.
    rim = max(1, round(_RIM_SHARE * min(height, width)))
    trimmed = np.pad(original[rim:-rim, rim:-rim], ((rim, rim), (rim, rim), (0, 0)), mode="edge")
    blurred = ndimage.gaussian_filter(trimmed, sigma=(reach, reach, 0))
    if pad[0]:
        # Above the head the picture fades into the background's colour: the blur of the top
        # edge carries the crown's colour, and continuing it up would draw a smear there.
        background = np.median(trimmed[rim : 2 * rim + 1].reshape(-1, 3), axis=0)
        rows_faded = min(height, round(2 * reach))
        ramp = np.linspace(0.0, 1.0, rows_faded, dtype=np.float32)[:, None, None]
        blurred[:rows_faded] = (1 - ramp) * background + ramp * blurred[:rows_faded]
    # Inside, the picture fades into its blurred self over `reach` pixels from each side that
    # gets a margin, so no seam shows where the generated picture ends.
    rows = np.arange(height, dtype=np.float32)[:, None]
    cols = np.arange(width, dtype=np.float32)[None, :]
    inside = np.full((height, width), np.inf, dtype=np.float32)
    for padded, distance in zip(
        pad, (rows, height - 1 - rows, cols, width - 1 - cols), strict=True
    ):
        if padded:
            inside = np.minimum(inside, distance)
    alpha = np.clip(inside / reach, 0.0, 1.0)[..., None]
    faded = alpha * original + (1 - alpha) * blurred
    widths = ((pad[0], pad[1]), (pad[2], pad[3]), (0, 0))
    extended = np.clip(np.rint(np.pad(blurred, widths, mode="edge")), 0, 255).astype(np.uint8)
    inner = np.clip(np.rint(faded), 0, 255).astype(np.uint8)
    extended[pad[0] : pad[0] + height, pad[2] : pad[2] + width] = inner
    return extended, (left + pad[2], top + pad[0], right + pad[2], bottom + pad[0])


def recolour_background(
    image: np.ndarray,
    colour: tuple[int, int, int],
    max_border_spread: float = DEFAULT_MAX_BORDER_SPREAD,
    colour_tolerance: float = DEFAULT_COLOUR_TOLERANCE,
    guide: np.ndarray | None = None,
) -> FramedPhoto:
    """Replaces a plain background with `colour`, with a soft edge; leaves a busy one alone.

    The background colour is the median of a band along the top and the upper sides. If the
    band's spread (90th percentile of distances to that colour) exceeds `max_border_spread`,
    the background is not plain and the image is returned unchanged. Otherwise the background
    is every pixel within `colour_tolerance` of that colour and connected to the band; it is
    filled with `colour`, blended over about a pixel into the subject so the edge is not jagged.

    Args:
        image: (H, W, 3) uint8 RGB.
        colour: the new background, (r, g, b) in 0-255.
        max_border_spread: largest spread of a plain border, RGB distance in 0-255 units.
        colour_tolerance: largest RGB distance of a background pixel from the border colour.
        guide: the image the background is judged and found on (default `image` itself): the
            same picture at any resolution, normally a smaller one; its mask is scaled to
            `image`, where the replacement is applied.

    Returns:
        The image (a new array when recoloured) and whether it was recoloured.
    """
    _check_rgb(image)
    guide = image if guide is None else guide
    _check_rgb(guide)
    background = _find_background(guide, max_border_spread, colour_tolerance)
    if background is None:
        return FramedPhoto(image, False)
    height, width = image.shape[:2]
    alpha = _soft_mask(background, (width, height))
    fill = Image.new("RGB", (width, height), tuple(int(c) for c in colour))
    blended = Image.composite(fill, Image.fromarray(image), alpha)
    return FramedPhoto(np.asarray(blended), True)


def _soft_mask(background: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """The background's 8-bit alpha at `size` (width, height): 255 on the background, 0 in the
    subject, and a soft edge about `_FEATHER_PX` pixels wide on their outline.

    Scaled, shaped and blended by Pillow in C: a float blend of the full-size photo in numpy
    took longer than everything else in framing.
    """
    mask = Image.fromarray(background.astype(np.uint8) * 255)
    scale = size[1] / background.shape[0]
    if scale < 2 * _FEATHER_PX:
        # At (about) the guide's own size: a hard mask, softened by a blur into the subject.
        mask = mask.resize(size, Image.Resampling.BILINEAR) if mask.size != size else mask
        blurred = mask.filter(ImageFilter.GaussianBlur(_FEATHER_PX / 2))
        return ImageChops.lighter(mask, blurred)
    # Enlarged: bilinear scaling turns each step of the guide's mask into a ramp `scale` pixels
    # wide that follows its outline smoothly; steepening it around its middle (the outline)
    # keeps `_FEATHER_PX` of it, at a tenth of the cost of a blur at full size.
    ramp = mask.resize(size, Image.Resampling.BILINEAR)
    steep = scale / _FEATHER_PX
    table = [round(min(255.0, max(0.0, (v - 127.5) * steep + 127.5))) for v in range(256)]
    return ramp.point(table)


def _find_background(
    guide: np.ndarray, max_border_spread: float, colour_tolerance: float
) -> np.ndarray | None:
    """The background as a boolean mask of the guide, or None when the border is not plain."""
    judged = guide.astype(np.float32)
    band = _border_band(guide.shape[0], guide.shape[1])
    estimate, spread = _band_colour(judged[band])
    if spread > max_border_spread:
        return None
    close = np.square(judged - estimate).sum(axis=2) <= colour_tolerance**2
    # Flood fill from the border: only background regions reachable from the band change, so a
    # face or shirt that happens to share the colour but is enclosed by the subject is kept.
    components, count = ndimage.label(close)
    reached = np.zeros(count + 1, dtype=bool)
    reached[components[band & close]] = True  # labels of close pixels start at 1
    return reached[components]


def background_spread(image: np.ndarray) -> float:
    """How far the background band of an (H, W, 3) uint8 RGB photo is from plain: the 90th
    percentile of its pixels' RGB distances to their median colour (0 on a flat colour)."""
    _check_rgb(image)
    band = _border_band(image.shape[0], image.shape[1])
    return _band_colour(image[band].astype(np.float32))[1]


def _band_colour(pixels: np.ndarray) -> tuple[np.ndarray, float]:
    """The median colour of (N, 3) float pixels and their spread around it."""
    estimate = np.median(pixels, axis=0)
    spread = float(np.percentile(np.linalg.norm(pixels - estimate, axis=1), _SPREAD_PERCENTILE))
    return estimate, spread


def _border_band(height: int, width: int) -> np.ndarray:
    """A boolean mask of the top band and the side bands above the shoulders."""
    thickness = max(1, round(_BAND_SHARE * min(height, width)))
    band = np.zeros((height, width), dtype=bool)
    band[:thickness, :] = True
    side_rows = max(thickness, round(_SIDE_BAND_HEIGHT * height))
    band[:side_rows, :thickness] = True
    band[:side_rows, width - thickness :] = True
    return band


def _check_rgb(image: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
