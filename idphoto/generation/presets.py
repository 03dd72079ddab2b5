"""ID-photo size presets and the AI-generated label, loaded from `configs/presets.yaml`.

The file is the one source of the sizes; this module only checks it. Its pixel sizes are stated
explicitly and must agree with the print size (`round(mm / 25.4 * dpi)`, give or take 1 px), so
a size edited in one place but not the other fails at load time with the preset's name.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from idphoto import config
from idphoto.config import ConfigError
from idphoto.errors import UserError
from idphoto.generation.geometry import GeometryBands

MM_PER_INCH = 25.4
_PIXEL_TOLERANCE = 1  # rounding conventions differ by a pixel between authorities
_HEX_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}")
_SOURCE_TYPE_VOCABULARY = "http://cv.iptc.org/newscodes/digitalsourcetype/"


@dataclasses.dataclass(frozen=True)
class Preset:
    """One ID-photo size.

    Attributes:
        name: the key of the preset in the file (`passport-35x45`).
        description: one line saying where the size is used.
        width_mm, height_mm: the printed size.
        dpi: the print resolution, written into every file.
        width_px, height_px: the pixel size of the written photos.
        background: the plain background colour, `#RRGGBB`.
        geometry: the issuing authority's bands for the face in the photo.
    """

    name: str
    description: str
    width_mm: float
    height_mm: float
    dpi: int
    width_px: int
    height_px: int
    background: str
    geometry: GeometryBands

    @property
    def aspect(self) -> float:
        """Width over height of the photo."""
        return self.width_px / self.height_px

    @property
    def background_rgb(self) -> tuple[int, int, int]:
        """The background colour as an (r, g, b) tuple of 0-255 integers."""
        return _hex_to_rgb(self.background)


@dataclasses.dataclass(frozen=True)
class LabelSettings:
    """What marks a photo as AI-generated.

    Attributes:
        text: the visible corner mark.
        digital_source_type: the IPTC Digital Source Type URI written into the XMP metadata.
    """

    text: str
    digital_source_type: str


@dataclasses.dataclass(frozen=True)
class PresetCatalogue:
    """Every preset of the file, by name, and the label settings."""

    label: LabelSettings
    presets: dict[str, Preset]

    def preset(self, name: str) -> Preset:
        """Returns the preset called `name`.

        Raises:
            UserError: no preset has that name; the message lists the valid names.
        """
        try:
            return self.presets[name]
        except KeyError:
            valid = ", ".join(sorted(self.presets))
            raise UserError(f"unknown preset {name!r}; valid presets: {valid}") from None


@dataclasses.dataclass(frozen=True)
class _PresetsFile:
    """The file's top level; each preset is checked on its own so errors name it."""

    label: LabelSettings
    presets: dict[str, Any]


def default_path() -> Path:
    """Returns the path of the project's presets file."""
    return config.config_dir() / "presets.yaml"


def load_presets(path: str | Path | None = None) -> PresetCatalogue:
    """Loads and checks the presets file (the project's `configs/presets.yaml` when None).

    Args:
        path: the YAML file to read.

    Returns:
        The presets and label settings.

    Raises:
        ConfigError: a missing, unknown, wrongly typed or inconsistent key, named by its
            dotted path (`presets.passport-35x45.width_px`).
    """
    raw = config.load(_PresetsFile, path or default_path())
    _check_label(raw.label)
    if not raw.presets:
        raise ConfigError("'presets' must hold at least one preset")
    presets = {}
    for name, entry in raw.presets.items():
        where = f"presets.{name}"
        if isinstance(entry, dict) and "name" in entry:
            # The name is the mapping key; a second copy inside could disagree with it.
            raise ConfigError(f"unknown key '{where}.name'")
        data = {"name": name, **entry} if isinstance(entry, dict) else entry
        preset = config.from_dict(Preset, data, where)
        _check_preset(preset, where)
        presets[name] = preset
    return PresetCatalogue(label=raw.label, presets=presets)


def expected_pixels(mm: float, dpi: int) -> int:
    """Returns the pixel count of `mm` millimetres printed at `dpi` dots per inch."""
    return round(mm / MM_PER_INCH * dpi)


def presets_table(catalogue: PresetCatalogue) -> str:
    """Formats the presets as an aligned text table (for `idphoto generate --list-presets`)."""
    header = ("NAME", "SIZE (MM)", "DPI", "PIXELS", "BACKGROUND", "HEAD (MM)", "DESCRIPTION")
    rows = [header]
    for name in sorted(catalogue.presets):
        p = catalogue.presets[name]
        rows.append(
            (
                name,
                f"{p.width_mm:g} x {p.height_mm:g}",
                str(p.dpi),
                f"{p.width_px} x {p.height_px}",
                p.background,
                "-".join(f"{mm:g}" for mm in p.geometry.head_height_mm),
                p.description,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def _check_preset(preset: Preset, where: str) -> None:
    if not preset.name.strip():
        raise ConfigError(f"{where!r} needs a non-empty name")
    for key in ("width_mm", "height_mm", "dpi", "width_px", "height_px"):
        if getattr(preset, key) <= 0:
            raise ConfigError(f"'{where}.{key}' must be positive")
    for side in ("width", "height"):
        mm = getattr(preset, f"{side}_mm")
        pixels = getattr(preset, f"{side}_px")
        expected = expected_pixels(mm, preset.dpi)
        if abs(pixels - expected) > _PIXEL_TOLERANCE:
            raise ConfigError(
                f"'{where}.{side}_px' is {pixels} but {mm:g} mm at {preset.dpi} dpi is "
                f"{expected} px"
            )
    if not _HEX_COLOUR.fullmatch(preset.background):
        raise ConfigError(f"'{where}.background' must be a colour like '#FFFFFF'")
    problem = preset.geometry.check()
    if problem:
        raise ConfigError(f"'{where}.geometry.{problem}")
    head_max = preset.geometry.head_height_mm[1]
    if head_max > preset.height_mm:
        raise ConfigError(f"'{where}.geometry.head_height_mm' exceeds the photo's height")


def _check_label(label: LabelSettings) -> None:
    if not label.text.strip():
        raise ConfigError("'label.text' must not be empty")
    if not label.digital_source_type.startswith(_SOURCE_TYPE_VOCABULARY):
        raise ConfigError(
            f"'label.digital_source_type' must be a term of {_SOURCE_TYPE_VOCABULARY}"
        )


def _hex_to_rgb(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
