import io
import struct

import numpy as np
import pytest
from PIL import Image

from idphoto.data.decode import decode_photo
from idphoto.errors import PhotoRejected

RNG = np.random.default_rng(0)
PIXELS = (RNG.random((80, 96, 3)) * 255).astype(np.uint8)


def _encode(image, fmt, **kwargs):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _decode(data):
    return decode_photo(data, max_pixels=1_000_000, min_side=64)


def _reason(data):
    with pytest.raises(PhotoRejected) as info:
        _decode(data)
    return info.value.reason


@pytest.mark.parametrize("fmt", ["PNG", "BMP"])
def test_rgb_png_and_bmp_decode_losslessly(fmt):
    assert np.array_equal(_decode(_encode(Image.fromarray(PIXELS), fmt)), PIXELS)


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "RGBA", "LA", "I;16", "1"])
def test_every_mode_becomes_8_bit_rgb(mode):
    image = Image.fromarray(PIXELS)
    if mode == "I;16":
        image = Image.fromarray(PIXELS[:, :, 0].astype(np.uint16) * 257)
    else:
        image = image.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "1" else "PNG")
    out = _decode(_encode(image, fmt))
    assert out.shape == (80, 96, 3) and out.dtype == np.uint8
    assert out.std() > 10  # the picture survived, not a blank frame


def test_sixteen_bit_values_are_scaled_not_clipped():
    wide = Image.fromarray(np.full((64, 64), 40000, dtype=np.uint16))
    assert abs(int(_decode(_encode(wide, "PNG"))[0, 0, 0]) - round(40000 / 65535 * 255)) <= 1


def test_alpha_is_composited_over_white():
    clear = Image.new("RGBA", (64, 64), (255, 0, 0, 0))
    assert _decode(_encode(clear, "PNG"))[0, 0].tolist() == [255, 255, 255]


def test_exif_orientation_is_applied():
    image = Image.fromarray(PIXELS)  # 96 wide, 80 high
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    assert _decode(_encode(image, "JPEG", exif=exif)).shape == (96, 80, 3)


def test_truncated_jpeg_is_rejected():
    data = _encode(Image.fromarray(PIXELS), "JPEG")
    assert _reason(data[: len(data) // 2]) == "truncated_image"


def test_text_saved_as_jpg_is_not_an_image():
    assert _reason(b"this is not a photo\n" * 10) == "not_an_image"


def _psd(pixels):
    """A minimal Photoshop file: RGB, 8 bits, no resources or layers, raw planar pixels."""
    height, width, channels = pixels.shape
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, channels, height, width, 8, 3)
    empty_sections = struct.pack(">III", 0, 0, 0)  # colour mode data, resources, layers
    raw = struct.pack(">H", 0)
    return header + empty_sections + raw + pixels.transpose(2, 0, 1).tobytes()


@pytest.mark.parametrize("fmt", ["PSD", "ICO", "TGA"])
def test_formats_pillow_reads_but_photos_do_not_use_are_not_images(fmt):
    data = _psd(PIXELS) if fmt == "PSD" else _encode(Image.fromarray(PIXELS), fmt)
    assert Image.open(io.BytesIO(data)).format == fmt  # a valid file Pillow would decode
    assert _reason(data) == "not_an_image"


def test_decompression_bomb_is_rejected_from_its_header():
    bomb = _encode(Image.new("1", (20000, 20000)), "PNG")  # tiny file, 400 megapixels
    assert len(bomb) < 100_000
    assert _reason(bomb) == "decompression_bomb"


def test_tiny_image_is_too_small():
    assert _reason(_encode(Image.new("RGB", (16, 16)), "PNG")) == "too_small"
