"""Decoding of untrusted photo bytes into an upright 8-bit RGB array.

The pixel count is checked from the header before any pixel is decoded, so a decompression bomb
costs nothing; every format-level failure becomes a `PhotoRejected` with a specific reason.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from idphoto.errors import PhotoRejected

# Pillow's own bomb guard would raise (or warn) at a fixed size; our cap comes from the config and
# is checked before decoding, so Pillow's is switched off to keep one limit.
Image.MAX_IMAGE_PIXELS = None

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
# Photo formats only: Pillow would otherwise hand EPS to Ghostscript, an external interpreter,
# and try dozens of rarely fuzzed plug-ins (FITS, PSD, DDS, ...) on untrusted bytes.
# (JPEG's opener also returns the multi-picture MPO files some cameras write.)
PHOTO_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "GIF", "BMP")


def decode_photo(data: bytes, max_pixels: int, min_side: int) -> np.ndarray:
    """Decodes image bytes into an (H, W, 3) uint8 RGB array, upright per its EXIF orientation.

    Only `PHOTO_FORMATS` are read; any other format is `not_an_image`. Grayscale, palette, CMYK,
    16-bit and images with alpha (composited over white) are converted; multi-frame files
    (animated GIF/PNG/WebP, multi-page TIFF, MPO) give their first frame. An EXIF orientation
    outside 1-8 is ignored.

    Args:
        data: the file's bytes.
        max_pixels: largest width × height accepted.
        min_side: smallest width or height accepted.

    Raises:
        PhotoRejected: `not_an_image`, `decompression_bomb`, `truncated_image`, `corrupt_image`
            or `too_small`.
    """
    try:
        image = Image.open(io.BytesIO(data), formats=PHOTO_FORMATS)
    except UnidentifiedImageError:
        raise PhotoRejected("not_an_image", f"not one of {', '.join(PHOTO_FORMATS)}") from None
    except Exception as err:  # Pillow plug-ins raise many types on malformed headers
        raise PhotoRejected("corrupt_image", _describe(err)) from None
    width, height = image.size
    if width * height > max_pixels:
        raise PhotoRejected("decompression_bomb", f"{width}x{height} exceeds {max_pixels} pixels")
    if min(width, height) < min_side:
        raise PhotoRejected("too_small", f"{width}x{height} is under {min_side} px")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EXIF and palette warnings are not actionable here
            image.load()
            image = ImageOps.exif_transpose(image)
            return _to_rgb(image)
    except OSError as err:
        reason = "truncated_image" if "truncated" in str(err).lower() else "corrupt_image"
        raise PhotoRejected(reason, _describe(err)) from None
    except Exception as err:  # decoders raise ValueError, SyntaxError, struct.error, ...
        raise PhotoRejected("corrupt_image", _describe(err)) from None


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in _SIXTEEN_BIT_MODES or image.mode == "F":
        # Pillow's convert("RGB") clips 16-bit values instead of scaling them.
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode != "F" and values.max(initial=0) > 255 else 255.0
        gray = np.clip(values / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _describe(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text[:200]
