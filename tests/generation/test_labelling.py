"""Labelled files: XMP with the IPTC source type and the model, the preset's dpi, a visible mark."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from idphoto.errors import UserError
from idphoto.generation.labelling import (
    NS_IPTC_EXT,
    NS_RDF,
    PhotoLabel,
    add_visible_mark,
    build_xmp,
    read_label,
    write_photo,
)

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def _label(**changes):
    values = dict(
        digital_source_type=TRAINED_ALGORITHMIC_MEDIA,
        tool="idphoto 0.1.0",
        model_uri="models:/idphoto-generator@champion",
        model_name="idphoto-generator",
        model_version="3",
        run_id="0a1b2c3d4e5f",
        seed=42,
        index=7,
        preset="passport-35x45",
    )
    return PhotoLabel(**{**values, **changes})


def _photo(width=413, height=531):
    image = np.full((height, width, 3), 235, np.uint8)
    image[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = (190, 130, 100)
    return image


@pytest.mark.parametrize(("suffix", "fmt"), [(".png", "PNG"), (".jpg", "JPEG"), (".jpeg", "JPEG")])
def test_file_carries_the_label_and_the_preset_dpi(tmp_path, suffix, fmt):
    path = tmp_path / f"photo{suffix}"
    write_photo(_photo(), path, _label(), dpi=300, mark_text="AI-generated")
    with Image.open(path) as image:
        assert image.format == fmt and image.size == (413, 531)
        assert round(image.info["dpi"][0]) == 300 and round(image.info["dpi"][1]) == 300
    label = read_label(path)
    assert label["digital_source_type"] == TRAINED_ALGORITHMIC_MEDIA
    assert label["model_name"] == "idphoto-generator"
    assert label["model_version"] == "3"
    assert label["run_id"] == "0a1b2c3d4e5f"
    assert (label["seed"], label["index"]) == ("42", "7")
    assert label["model_uri"] == "models:/idphoto-generator@champion"
    assert label["preset"] == "passport-35x45" and label["tool"] == "idphoto 0.1.0"
    assert label["dpi"] == "300"


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_format_option_wins_over_the_extension(tmp_path, fmt):
    path = tmp_path / "photo.bin"
    write_photo(_photo(), path, _label(), dpi=600, mark_text=None, image_format=fmt)
    with Image.open(path) as image:
        assert image.format == fmt.upper()
        assert round(image.info["dpi"][0]) == 600
    assert read_label(path)["run_id"] == "0a1b2c3d4e5f"


def test_unknown_extension_without_format_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="cannot tell the image format"):
        write_photo(_photo(), tmp_path / "photo.tiff", _label(), dpi=300, mark_text=None)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_xml_special_characters_round_trip(tmp_path, suffix):
    awkward = "gen <v2> & \"best\" 'one' ]]> é"
    path = tmp_path / f"photo{suffix}"
    write_photo(_photo(), path, _label(model_name=awkward, run_id="<&>"), 300, None)
    label = read_label(path)
    assert label["model_name"] == awkward and label["run_id"] == "<&>"


def test_xmp_is_an_rdf_packet_with_the_iptc_property():
    packet = build_xmp(_label())
    assert packet.startswith("<?xpacket begin=") and packet.endswith('<?xpacket end="w"?>')
    root = ET.fromstring(packet.encode("utf-8"))
    description = root.find(f"{{{NS_RDF}}}RDF/{{{NS_RDF}}}Description")
    source_type = description.find(f"{{{NS_IPTC_EXT}}}DigitalSourceType")
    assert source_type.text == TRAINED_ALGORITHMIC_MEDIA
    assert description.find("{http://ns.adobe.com/xap/1.0/}CreatorTool").text == "idphoto 0.1.0"
    assert description.find(f"{{{NS_IPTC_EXT}}}AISystemUsed").text == "idphoto-generator"


def test_label_written_as_attributes_by_another_tool_is_read(tmp_path):
    packet = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="' + NS_RDF + '">'
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="' + NS_IPTC_EXT + '" '
        'xmlns:idphoto="https://idphoto.dev/ns/1.0/" '
        'Iptc4xmpExt:DigitalSourceType="' + TRAINED_ALGORITHMIC_MEDIA + '" idphoto:RunID="r1"/>'
        "</rdf:RDF></x:xmpmeta>"
    )
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", packet)
    path = tmp_path / "other.png"
    Image.fromarray(_photo(40, 40)).save(path, pnginfo=info)
    label = read_label(path)
    assert label["digital_source_type"] == TRAINED_ALGORITHMIC_MEDIA and label["run_id"] == "r1"


def test_a_file_without_a_label_reads_as_empty(tmp_path):
    path = tmp_path / "plain.png"
    Image.fromarray(_photo(40, 40)).save(path)
    assert read_label(path) == {}


def test_a_non_image_is_a_user_error(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    with pytest.raises(UserError, match="cannot read"):
        read_label(path)


def _corner(image):
    height, width = image.shape[:2]
    return image[int(height * 0.9) :, int(width * 0.6) :]


def test_visible_mark_changes_the_bottom_right_corner_only(tmp_path):
    photo = _photo()
    marked_path, plain_path = tmp_path / "marked.png", tmp_path / "plain.png"
    write_photo(photo, marked_path, _label(), 300, mark_text="AI-generated")
    write_photo(photo, plain_path, _label(), 300, mark_text=None)
    marked = np.asarray(Image.open(marked_path).convert("RGB"))
    plain = np.asarray(Image.open(plain_path).convert("RGB"))
    assert np.array_equal(plain, photo)
    assert (np.abs(_corner(marked).astype(int) - _corner(photo)).sum(axis=2) > 30).sum() > 200
    height, width = photo.shape[:2]
    assert np.array_equal(marked[: int(height * 0.85)], photo[: int(height * 0.85)])
    assert np.array_equal(marked[:, : int(width * 0.4)], photo[:, : int(width * 0.4)])


@pytest.mark.parametrize(("width", "height"), [(295, 413), (600, 600), (1200, 1600)])
def test_visible_mark_scales_with_the_image(width, height):
    photo = np.full((height, width, 3), 235, np.uint8)
    changed = np.any(add_visible_mark(photo, "AI-generated") != photo, axis=2)
    rows, cols = np.nonzero(changed)
    box_height = rows.max() - rows.min() + 1
    assert 0.03 * height < box_height < 0.09 * height
    assert rows.max() < height - 1 and cols.max() < width - 1  # a margin from the edges
    assert cols.min() > width * 0.4  # in the right-hand part
