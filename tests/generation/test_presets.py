"""`configs/presets.yaml`: every preset's pixel size follows from its print size; bad files fail
with the key's name."""

import pytest
import yaml

from idphoto.config import ConfigError, config_dir
from idphoto.errors import UserError
from idphoto.generation.presets import expected_pixels, load_presets, presets_table

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


@pytest.mark.parametrize(
    ("name", "width_mm", "height_mm", "width_px", "height_px"),
    [
        ("passport-35x45", 35, 45, 413, 531),
        ("visa-33x48", 33, 48, 390, 567),
        ("us-2x2in", 50.8, 50.8, 600, 600),
        ("one-inch-25x35", 25, 35, 295, 413),
        ("two-inch-35x49", 35, 49, 413, 579),
    ],
)
def test_preset_pixel_size_is_its_print_size_at_its_dpi(
    name, width_mm, height_mm, width_px, height_px
):
    preset = load_presets().preset(name)
    assert (preset.name, preset.dpi) == (name, 300)
    assert (preset.width_mm, preset.height_mm) == (width_mm, height_mm)
    assert (preset.width_px, preset.height_px) == (width_px, height_px)
    assert abs(preset.width_px - width_mm / 25.4 * preset.dpi) <= 1
    assert abs(preset.height_px - height_mm / 25.4 * preset.dpi) <= 1
    assert len(preset.background_rgb) == 3 and preset.description


def test_every_preset_in_the_file_is_consistent():
    catalogue = load_presets()
    assert len(catalogue.presets) >= 5
    for preset in catalogue.presets.values():
        assert abs(preset.width_px - expected_pixels(preset.width_mm, preset.dpi)) <= 1
        assert abs(preset.height_px - expected_pixels(preset.height_mm, preset.dpi)) <= 1


def test_label_settings_carry_the_iptc_source_type():
    label = load_presets().label
    assert label.digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    assert label.text == "AI-generated"


def test_background_colour_is_parsed_to_rgb():
    assert load_presets().preset("one-inch-25x35").background_rgb == (0x43, 0x8E, 0xDB)


def test_unknown_preset_name_lists_the_valid_ones():
    with pytest.raises(UserError, match="unknown preset 'passport'") as caught:
        load_presets().preset("passport")
    assert "passport-35x45" in str(caught.value) and "us-2x2in" in str(caught.value)


def _edit(preset=None, **changes):
    data = yaml.safe_load((config_dir() / "presets.yaml").read_text())
    target = data["presets"][preset] if preset else data
    target.update(changes)
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_edit("passport-35x45", colour="#FFFFFF"), "unknown key 'presets.passport-35x45.colour'"),
        (_edit("passport-35x45", name="passport"), "unknown key 'presets.passport-35x45.name'"),
        (_edit(extras=1), "unknown key 'extras'"),
        (_edit("visa-33x48", dpi="300dpi"), "'presets.visa-33x48.dpi' must be an integer"),
        (_edit("visa-33x48", width_px=420), "'presets.visa-33x48.width_px' is 420 but 33 mm"),
        (_edit("us-2x2in", width_mm=51), "'presets.us-2x2in.width_px' is 600 but 51 mm"),
        (_edit("us-2x2in", dpi=0), "'presets.us-2x2in.dpi' must be positive"),
        (_edit("us-2x2in", background="white"), "'presets.us-2x2in.background' must be a colour"),
        (_edit("one-inch-25x35", width_mm=None), "'presets.one-inch-25x35.width_mm' must be a"),
        (_edit(presets={}), "at least one preset"),
        (_edit(label={"text": "AI"}), "missing key 'label.digital_source_type'"),
    ],
)
def test_a_bad_presets_file_fails_naming_the_key(tmp_path, data, message):
    path = tmp_path / "presets.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=message):
        load_presets(path)


def test_a_missing_preset_key_is_named(tmp_path):
    data = _edit()
    del data["presets"]["visa-33x48"]["height_px"]
    path = tmp_path / "presets.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="missing key 'presets.visa-33x48.height_px'"):
        load_presets(path)


def test_presets_table_lists_every_preset_with_its_pixels():
    lines = presets_table(load_presets()).splitlines()
    assert lines[0].split()[0] == "NAME" and len(lines) == 1 + len(load_presets().presets)
    row = next(line for line in lines if line.startswith("passport-35x45 "))
    assert "413 x 531" in row and "#EBEBEB" in row and "35 x 45" in row
