"""A corpus of hostile photo files, each with the outcomes the ingest job may give it.

Every file is built from a synthetic portrait of its own (so accepted files are not duplicates of
one another), with the portrait's landmarks, so the face detector is never needed.
"""

from __future__ import annotations

import dataclasses
import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
from PIL import Image

from idphoto.sample_data.portraits import Portrait, draw_portrait

OK = "ok"
# A bit flip may leave a decodable file (JPEG is resilient) or break it in any of these ways;
# what it must never give is `processing_error`, the reason for a failure nobody foresaw.
FLIP_OUTCOMES = frozenset(
    {OK, "corrupt_image", "truncated_image", "not_an_image", "decompression_bomb", "too_small"}
    | {"bad_landmarks", "face_too_small"}
)
_ORIENTATION = 0x0112
_DESCRIPTION = 0x010E
_LETTER = b"Dear photographer,\nthis is not a photo.\n" * 8
# Encapsulated PostScript: Pillow would render it by running Ghostscript on it.
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 256 256\nshowpage\n"


@dataclasses.dataclass(frozen=True)
class HostileFile:
    """One corpus file: its bytes, the portrait it holds (pixels and landmarks) and the outcomes
    allowed for it."""

    name: str
    data: bytes
    original: np.ndarray
    landmarks: list[list[float]]
    outcomes: frozenset[str]


def corpus_names() -> list[str]:
    """The names of the corpus files, cheaply (for test parametrisation)."""
    return [name for name, _, _ in _BUILDERS]


def build_file(name: str) -> HostileFile:
    """Builds one corpus file, the same bytes on every call."""
    number = corpus_names().index(name)
    _, build, outcomes = _BUILDERS[number]
    portrait = draw_portrait(np.random.default_rng(1000 + number), 256)
    landmarks = np.round(portrait.landmarks, 2).tolist()
    return HostileFile(name, build(portrait), portrait.image, landmarks, outcomes)


def build_corpus() -> list[HostileFile]:
    """Builds every corpus file."""
    return [build_file(name) for name in corpus_names()]


def _builders() -> list[tuple[str, Callable[[Portrait], bytes], frozenset[str]]]:
    accepted = frozenset({OK})
    builders = [
        ("good.png", lambda p: _encode(p.image, "PNG"), accepted),
        ("good.jpg", lambda p: _encode(p.image, "JPEG"), accepted),
        ("zero.png", lambda p: b"", _only("empty_file")),
        ("letter.png", lambda p: _LETTER, _only("not_an_image")),
        ("truncated.png", lambda p: _half(_encode(p.image, "PNG")), _only("truncated_image")),
        ("truncated.jpg", lambda p: _half(_encode(p.image, "JPEG")), _only("truncated_image")),
        ("header-only.png", lambda p: _encode(p.image, "PNG")[:40], _only("not_an_image")),
        ("bomb.png", lambda p: _png_claiming(100_000, 100_000), _only("decompression_bomb")),
        ("bomb.jpg", _jpeg_bomb, _only("decompression_bomb")),
        ("text-bomb.png", _png_with_text_bomb, _only("corrupt_image")),
        ("animated.gif", _animated_gif, accepted),
        ("multipage.tiff", _multipage_tiff, accepted),
        ("cmyk.jpg", _cmyk_jpeg, accepted),
        ("gray16.png", _gray16_png, accepted),
        ("rgb16.png", _rgb16_png, accepted),
        ("exif-orientation-9.jpg", lambda p: _jpeg_with_exif(p, _ORIENTATION, 9), accepted),
        ("exif-orientation-65535.jpg", lambda p: _jpeg_with_exif(p, _ORIENTATION, 65535), accepted),
        ("exif-huge.jpg", lambda p: _jpeg_with_exif(p, _DESCRIPTION, "x" * 60_000), accepted),
        ("exif-loop.jpg", lambda p: _jpeg_with_app1(p, _tiff_ifd_loop()), accepted),
        ("exif-deep.jpg", lambda p: _jpeg_with_app1(p, _tiff_ifd_chain(4000)), accepted),
        ("ghostscript.eps", lambda p: EPS, _only("not_an_image")),
    ]
    for seed in range(4):
        builders.append((f"flipped-{seed}.png", _flipped("PNG", seed), FLIP_OUTCOMES))
        builders.append((f"flipped-{seed}.jpg", _flipped("JPEG", seed), FLIP_OUTCOMES))
    return builders


def solid_frames(colours: tuple[int, ...], size: int = 96) -> list[Image.Image]:
    """Frames of one grey level each: palette and lossless formats keep them exactly."""
    return [Image.fromarray(np.full((size, size, 3), c, np.uint8)) for c in colours]


def save_frames(frames: list[Image.Image], fmt: str, **options) -> bytes:
    """Saves a multi-frame file (GIF, TIFF, PNG = APNG, WEBP, MPO)."""
    return _encode(frames[0], fmt, save_all=True, append_images=frames[1:], **options)


def png_claiming(width: int, height: int) -> bytes:
    """A valid PNG whose header claims `width`×`height` over a few bytes of pixel data."""
    return _png_claiming(width, height)


def _only(reason: str) -> frozenset[str]:
    return frozenset({reason})


def _encode(image, fmt: str, **options) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_claiming(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _chunk(b"IEND", b"")
    )


def _jpeg_claiming(jpeg: bytes, width: int, height: int) -> bytes:
    frame = jpeg.index(b"\xff\xc0")  # baseline start-of-frame: length, precision, height, width
    return jpeg[: frame + 5] + struct.pack(">HH", height, width) + jpeg[frame + 9 :]


def _jpeg_bomb(portrait: Portrait) -> bytes:
    return _jpeg_claiming(_encode(portrait.image, "JPEG"), 65_500, 65_500)


def _cmyk_jpeg(portrait: Portrait) -> bytes:
    return _encode(Image.fromarray(portrait.image).convert("CMYK"), "JPEG")


def _png_with_text_bomb(portrait: Portrait) -> bytes:
    png = _encode(portrait.image, "PNG")
    bomb = _chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"\x00" * 10_000_000, 9))
    return png[:33] + bomb + png[33:]  # right after IHDR (8 + 25 bytes)


def _animated_gif(portrait: Portrait) -> bytes:
    later = Image.fromarray(255 - portrait.image)
    return _encode(
        Image.fromarray(portrait.image), "GIF", save_all=True, append_images=[later], duration=80
    )


def _multipage_tiff(portrait: Portrait) -> bytes:
    later = Image.fromarray(255 - portrait.image)
    return _encode(Image.fromarray(portrait.image), "TIFF", save_all=True, append_images=[later])


def _gray16_png(portrait: Portrait) -> bytes:
    gray = np.asarray(Image.fromarray(portrait.image).convert("L"), np.uint16) * 257
    return _encode(Image.fromarray(gray), "PNG")


def _rgb16_png(portrait: Portrait) -> bytes:
    # Pillow cannot write 16-bit RGB, so the PNG is assembled by hand.
    pixels = portrait.image.astype(">u2") * 257
    height, width, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )


def _jpeg_with_exif(portrait: Portrait, tag: int, value) -> bytes:
    exif = Image.Exif()
    exif[tag] = value
    return _encode(portrait.image, "JPEG", exif=exif)


def _jpeg_with_app1(portrait: Portrait, tiff: bytes) -> bytes:
    jpeg = _encode(portrait.image, "JPEG")
    segment = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(segment) + 2) + segment + jpeg[2:]


def _ifd(entries: list[tuple[int, int, int, int]], next_ifd: int = 0) -> bytes:
    body = b"".join(struct.pack("<HHII", *entry) for entry in entries)
    return struct.pack("<H", len(entries)) + body + struct.pack("<I", next_ifd)


def _tiff_ifd_loop() -> bytes:
    # IFD0 at offset 8: orientation 1, an Exif sub-IFD pointer and a next-IFD pointer to itself.
    return b"II*\x00" + struct.pack("<I", 8) + _ifd([(_ORIENTATION, 3, 1, 1), (0x8769, 4, 1, 8)], 8)


def _tiff_ifd_chain(depth: int) -> bytes:
    # Each IFD's Exif pointer leads to the next: nesting `depth` deep, within one APP1 segment.
    size = 2 + 12 + 4
    pointers = [8 + (i + 1) * size for i in range(depth - 1)] + [0]
    ifds = [_ifd([(0x8769, 4, 1, pointer)]) for pointer in pointers]
    return (b"II*\x00" + struct.pack("<I", 8) + b"".join(ifds))[:65_000]


def _flipped(fmt: str, seed: int) -> Callable[[Portrait], bytes]:
    def build(portrait: Portrait) -> bytes:
        data = bytearray(_encode(portrait.image, fmt))
        rng = np.random.default_rng(seed)
        for offset in rng.integers(0, len(data), 6):
            data[offset] ^= 1 << int(rng.integers(0, 8))
        return bytes(data)

    return build


_BUILDERS = _builders()
