"""Robustness of the invisible watermark: detection rate per attack, false positives, timings.

`python -m bench.watermark_robustness` frames synthetic portraits onto every preset's size and
background, marks each with its own id, attacks it (JPEG, half-size resize, crops, a screenshot
of a UI page) and prints how often `detect` returns the right id, how often a wrong one, and how
many unmarked images (natural photos, flat fields, noise, unmarked portraits) it wrongly accepts.
The attacks are plain functions so the tests use the very same ones.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from collections.abc import Callable

import numpy as np
import skimage.data
from matplotlib import cbook
from PIL import Image, ImageDraw
from scipy import ndimage

from idphoto.generation import watermark
from idphoto.generation.framing import frame_photo
from idphoto.generation.presets import load_presets
from idphoto.sample_data.portraits import draw_portrait

_CANVAS = (1280, 800)  # a laptop-sized browser window, width x height
_UI_COLOURS = ((255, 255, 255), (240, 240, 240), (229, 231, 235), (248, 249, 250), (32, 33, 36))
_PANEL_COLOURS = ((66, 133, 244), (220, 220, 220), (52, 168, 83), (60, 64, 67))


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Returns `image` after a Pillow JPEG round trip at `quality` (4:2:0, Pillow's default).

    Args:
        image: (H, W, 3) uint8 RGB.
        quality: the JPEG quality, 1-95.

    Returns:
        The decoded (H, W, 3) uint8 RGB image.
    """
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def png(image: np.ndarray) -> np.ndarray:
    """Returns `image` after a lossless PNG round trip (the unmodified case, through a file)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def resize(
    image: np.ndarray, factor: float, method: Image.Resampling = Image.Resampling.LANCZOS
) -> np.ndarray:
    """Returns `image` scaled by `factor` (both sides, rounded to whole pixels) with `method`."""
    height, width = image.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(Image.fromarray(image).resize(size, method))


def crop(image: np.ndarray, share: float, where: str) -> np.ndarray:
    """Removes `share` of the width and of the height, without resizing what is left.

    Args:
        image: (H, W, ...) array.
        share: the part of each side removed, e.g. 0.1.
        where: "centre" removes half of it on each side; "corner" all of it from the top and
            left edges (the bottom-right part is kept).

    Returns:
        The cropped view of `image`.
    """
    height, width = image.shape[:2]
    cut_y, cut_x = round(height * share), round(width * share)
    if where == "centre":
        top, left = cut_y // 2, cut_x // 2
    elif where == "corner":
        top, left = cut_y, cut_x
    else:
        raise ValueError(f"where must be 'centre' or 'corner', got {where!r}")
    return image[top : top + height - cut_y, left : left + width - cut_x]


def screenshot(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Pastes `image` at 1:1 into a UI-like page at a random offset and saves that as JPEG q75.

    The page has a plain colour, a coloured panel and some text, like a browser window showing
    the photo; the offset is never a multiple of 8, so the photo's pixels fall on other JPEG
    blocks than in the original.

    Args:
        image: (H, W, 3) uint8 RGB.
        rng: chooses the page's colours, layout and the photo's offset.

    Returns:
        The screenshot, uint8 RGB: 1280 x 800, or taller for a photo that would not fit.
    """
    height, width = image.shape[:2]
    size = (max(_CANVAS[0], width + 400), max(_CANVAS[1], height + 120))
    page = Image.new("RGB", size, _UI_COLOURS[rng.integers(len(_UI_COLOURS))])
    draw = ImageDraw.Draw(page)
    panel_colour = _PANEL_COLOURS[rng.integers(len(_PANEL_COLOURS))]
    draw.rectangle((0, 0, size[0], 48), fill=panel_colour)  # a toolbar
    x, y = (_off_grid(rng, high) for high in (size[0] - width - 20, size[1] - height))
    text_x = x + width + 24 if x + width + 300 < size[0] else 16
    for line in range(12):
        draw.text((text_x, 80 + 22 * line), f"Applicant photo {line}: approved", fill=(20, 20, 20))
    draw.rectangle((text_x, 400, text_x + 180, 440), outline=(90, 90, 90), width=2)  # a button
    page.paste(Image.fromarray(image), (x, y))
    return jpeg(np.asarray(page), 75)


def _off_grid(rng: np.random.Generator, high: int) -> int:
    """A random offset in [60, high] that is not a multiple of 8 (`high` at least 61)."""
    offset = int(rng.integers(60, high + 1))
    return offset - 1 if offset % 8 == 0 else offset


ATTACKS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "unmodified (PNG)": lambda image, rng: png(image),
    "JPEG q75": lambda image, rng: jpeg(image, 75),
    "0.5x Lanczos": lambda image, rng: resize(image, 0.5),
    "0.5x bicubic": lambda image, rng: resize(image, 0.5, Image.Resampling.BICUBIC),
    "10% crop, centre": lambda image, rng: crop(image, 0.1, "centre"),
    "10% crop, corner": lambda image, rng: crop(image, 0.1, "corner"),
    "screenshot, JPEG q75": screenshot,
}


def robustness_table(
    images: list[np.ndarray],
    unmarked: list[np.ndarray],
    seed: int,
    labels: list[str] | None = None,
) -> dict:
    """Marks each image with its own random id, attacks it every way, and detects.

    Args:
        images: (H, W, 3) uint8 RGB photos to mark.
        unmarked: images never marked, each of which must come back `found=False`.
        seed: draws the ids and the screenshots' layouts.
        labels: one group name per image (e.g. its background colour): rates are also given
            per group.

    Returns:
        A JSON-able dict: per attack the share detected with the right id, the count of wrong
        ids and misses (and the share per label); the false positives over `unmarked` with the
        summed bound on them; PSNR of the marked photos; embed and detect times in ms.
    """
    rng = np.random.default_rng(seed)
    labels = labels or ["all"] * len(images)
    outcomes = {name: [] for name in ATTACKS}
    psnrs, embed_ms, detect_ms = [], [], []
    for image in images:
        photo_id = int(rng.integers(0, 2**watermark.ID_BITS))
        start = time.perf_counter()
        marked = watermark.embed(image, photo_id)
        embed_ms.append(1e3 * (time.perf_counter() - start))
        psnrs.append(psnr(image, marked))
        for name, attack in ATTACKS.items():
            suspect = attack(marked, rng)
            start = time.perf_counter()
            found = watermark.detect(suspect)
            detect_ms.append(1e3 * (time.perf_counter() - start))
            outcomes[name].append(outcome(found, photo_id))
    accepted, bound, unmarked_ms = false_positives(unmarked)
    return {
        "photos": len(images),
        "attacks": {name: rates(results, labels) for name, results in outcomes.items()},
        "unmarked": len(unmarked),
        "false_positives": accepted,
        "false_positive_bound": bound,
        "psnr_db": _summary(psnrs),
        "embed_ms": _summary(embed_ms),
        "detect_ms_marked": _summary(detect_ms),
        "detect_ms_unmarked": _summary(unmarked_ms),
    }


def psnr(original: np.ndarray, marked: np.ndarray) -> float:
    """Peak signal-to-noise ratio of `marked` against `original` over all pixels and channels."""
    error = np.mean(np.square(marked.astype(np.float64) - original))
    return float("inf") if error == 0 else float(10 * np.log10(255.0**2 / error))


def sample_photos(count: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
    """Synthetic ID photos: portraits framed onto every preset's size and background in turn.

    Returns:
        The photos and, for each, its preset's background colour (`#FFFFFF`, ...).
    """
    catalogue = load_presets()
    presets = [catalogue.presets[name] for name in sorted(catalogue.presets)]
    rng = np.random.default_rng(seed)
    photos, backgrounds = [], []
    for index in range(count):
        preset = presets[index % len(presets)]
        portrait = draw_portrait(rng, 256).image
        photos.append(frame_photo(portrait, preset).image)
        backgrounds.append(preset.background)
    return photos, backgrounds


def unmarked_images(count: int, seed: int) -> list[np.ndarray]:
    """Images that carry no mark, in equal parts: natural photos (crops, resizes and JPEGs of
    scikit-image's and matplotlib's samples), flat fields, noise and unmarked ID photos."""
    rng = np.random.default_rng(seed)
    naturals = _natural_photos()
    portraits, _ = sample_photos(count // 4, seed + 1)
    makers = (
        lambda: _natural_variant(naturals[rng.integers(len(naturals))], rng),
        lambda: _flat(rng),
        lambda: _noise(rng),
    )
    drawn = [makers[index % len(makers)]() for index in range(count - len(portraits))]
    return drawn + portraits


def _natural_photos() -> list[np.ndarray]:
    """Colour and grey sample photos shipped with scikit-image and matplotlib (no download)."""
    grey_names = ("camera", "moon", "coins", "brick", "grass", "gravel", "clock", "page", "text")
    colour_names = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field",
                    "immunohistochemistry", "retina", "colorwheel")  # fmt: skip
    photos = [getattr(skimage.data, name)() for name in colour_names]
    photos += [
        np.repeat(getattr(skimage.data, name)()[..., None], 3, axis=2) for name in grey_names
    ]
    with cbook.get_sample_data("grace_hopper.jpg") as file:
        photos.append(np.asarray(Image.open(file).convert("RGB")))
    return photos


def _natural_variant(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random crop of `photo`, sometimes resized, sometimes JPEG'd."""
    height, width = photo.shape[:2]
    crop_h, crop_w = (int(rng.integers(min(side, 150), side + 1)) for side in (height, width))
    top, left = int(rng.integers(0, height - crop_h + 1)), int(rng.integers(0, width - crop_w + 1))
    variant = np.ascontiguousarray(photo[top : top + crop_h, left : left + crop_w])
    if rng.random() < 0.3:
        variant = resize(variant, float(rng.uniform(0.5, 1.5)))
    return jpeg(variant, int(rng.integers(60, 96))) if rng.random() < 0.5 else variant


def _flat(rng: np.random.Generator) -> np.ndarray:
    """A flat field of a random colour (white and near-white often) at a random size."""
    colour = rng.integers(0, 256, 3) if rng.random() < 0.6 else np.full(3, rng.integers(235, 256))
    height, width = (int(side) for side in rng.integers(120, 900, 2))
    return np.broadcast_to(colour.astype(np.uint8), (height, width, 3)).copy()


def _noise(rng: np.random.Generator) -> np.ndarray:
    """Uniform, Gaussian or smoothed noise at a random size."""
    height, width = (int(side) for side in rng.integers(120, 700, 2))
    kind = rng.integers(3)
    if kind == 0:
        return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    values = rng.normal(128, rng.uniform(1, 40), (height, width, 3))
    if kind == 2:
        values = ndimage.gaussian_filter(values, (rng.uniform(0.5, 4), rng.uniform(0.5, 4), 0))
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def false_positives(unmarked: list[np.ndarray]) -> tuple[int, float, list[float]]:
    """How many unmarked images were accepted, the summed bound on that, and detect times."""
    accepted, bound, times = 0, 0.0, []
    for image in unmarked:
        start = time.perf_counter()
        found = watermark.detect(image)
        times.append(1e3 * (time.perf_counter() - start))
        accepted += found.found
        bound += found.false_positive_bound
    return accepted, bound, times


def outcome(found: watermark.Detection, photo_id: int) -> str:
    if not found.found:
        return "missed"
    return "right" if found.photo_id == photo_id else "wrong"


def rates(outcomes: list[str], labels: list[str]) -> dict:
    by_label = {}
    for label in sorted(set(labels)):
        mine = [o for o, other in zip(outcomes, labels, strict=True) if other == label]
        by_label[label] = mine.count("right") / len(mine)
    return {
        "detected": outcomes.count("right") / len(outcomes),
        "wrong_id": outcomes.count("wrong"),
        "missed": outcomes.count("missed"),
        "detected_by_label": by_label,
    }


def _summary(values: list[float]) -> dict:
    if not values:
        return {}
    return {
        "min": float(np.min(values)),
        "median": float(np.median(values)),
        "max": float(np.max(values)),
    }


def _format(table: dict) -> str:
    """The table as aligned text, one attack a line, the label groups as columns."""
    labels = sorted(next(iter(table["attacks"].values()))["detected_by_label"])
    lines = [f"{'attack':22} {'detected':>8} {'wrong':>5} {'missed':>6}  " + "  ".join(labels)]
    for name, row in table["attacks"].items():
        groups = "  ".join(f"{row['detected_by_label'][label]:>7.1%}" for label in labels)
        lines.append(
            f"{name:22} {row['detected']:>8.1%} {row['wrong_id']:>5} {row['missed']:>6}  {groups}"
        )
    lines.append(
        f"false positives: {table['false_positives']} of {table['unmarked']} unmarked images "
        f"(bound on the expected count: {table['false_positive_bound']:.1e})"
    )
    for key in ("psnr_db", "embed_ms", "detect_ms_marked", "detect_ms_unmarked"):
        summary = table[key]
        lines.append(
            f"{key}: min {summary['min']:.1f}  median {summary['median']:.1f}  "
            f"max {summary['max']:.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    """Runs the table on synthetic ID photos and prints it (and its JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=200, help="marked photos")
    parser.add_argument("--unmarked", type=int, default=1000, help="unmarked images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="also print the table as JSON")
    args = parser.parse_args(argv)
    for flag in ("photos", "unmarked"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be at least 1")
    photos, backgrounds = sample_photos(args.photos, args.seed)
    table = robustness_table(photos, unmarked_images(args.unmarked, args.seed), args.seed,
                             labels=backgrounds)  # fmt: skip
    print(_format(table))
    if args.json:
        print(json.dumps(table, indent=2))
    return table


if __name__ == "__main__":
    main()
