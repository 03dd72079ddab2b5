"""Near-copy search: is any generated sample a near-copy of a training photo?

A sample is a near-copy when it is much closer to one training photo than to the others around
it: the distance to its nearest photo divided by the mean distance to the next `neighbours`
photos falls below a threshold. The relative form (as in Carlini et al. 2023,
https://arxiv.org/abs/2301.13188) matters for ID photos, which all share one framing and look
alike: a generic face is close to many photos at once and is not a copy of any.

Distances are RMS over 16×16 colour thumbnails normalised to zero mean and unit variance, so a
copy with noise, blur, or changed brightness or contrast still matches; the sample's mirror
image is compared too, since training flips photos. Training photos stream in chunks, so the
search scales to large datasets. Pure numpy/TensorFlow: no MLflow, no files.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
import tensorflow as tf

_THUMB = 16


@dataclasses.dataclass(frozen=True)
class Match:
    """A sample's nearest training photo."""

    sample: int  # index of the sample
    training: int  # index of the training photo, in the order the chunks arrived
    distance: float  # RMS distance of the normalised thumbnails
    ratio: float  # distance / mean distance to the next neighbours; small = near-copy
    mirrored: bool  # whether the sample matched as its mirror image


def nearest_training_photos(
    samples: np.ndarray, training_chunks: Iterable[np.ndarray], neighbours: int
) -> list[Match]:
    """Finds each sample's nearest training photo and how much nearer it is than the others.

    Args:
        samples: (N, H, W, C) float32 images in [0, 1].
        training_chunks: (M_i, H, W, C) float32 images in [0, 1], in a fixed order; together
            at least `neighbours + 1` photos.
        neighbours: how many next-nearest photos the nearest distance is compared with.

    Returns:
        One Match per sample, in sample order.

    Raises:
        ValueError: fewer than `neighbours + 1` training photos.
    """
    views = {False: thumbnails(samples), True: thumbnails(samples[:, :, ::-1, :])}
    keep = neighbours + 1
    nearest = {m: (np.empty((len(samples), 0)), np.empty((len(samples), 0), int)) for m in views}
    offset = 0
    for chunk in training_chunks:
        chunk_thumbs = thumbnails(chunk)
        for mirrored, sample_thumbs in views.items():
            distances, indices = nearest[mirrored]
            distances = np.concatenate([distances, _rms_distances(sample_thumbs, chunk_thumbs)], 1)
            indices = np.concatenate(
                [
                    indices,
                    np.broadcast_to(offset + np.arange(len(chunk)), (len(samples), len(chunk))),
                ],
                1,
            )
            order = np.argsort(distances, axis=1, kind="stable")[:, :keep]
            nearest[mirrored] = (
                np.take_along_axis(distances, order, 1),
                np.take_along_axis(indices, order, 1),
            )
        offset += len(chunk)
    if offset < keep:
        raise ValueError(f"near-copy search needs at least {keep} training photos, got {offset}")
    matches = []
    for i in range(len(samples)):
        candidates = []
        for mirrored, (distances, indices) in nearest.items():
            ratio = distances[i, 0] / max(float(distances[i, 1:].mean()), 1e-12)
            candidates.append(Match(i, int(indices[i, 0]), float(distances[i, 0]), ratio, mirrored))
        matches.append(min(candidates, key=lambda m: m.ratio))
    return matches


def thumbnails(images: np.ndarray) -> np.ndarray:
    """(N, 16·16·C) thumbnails, each normalised to zero mean and unit variance."""
    small = tf.image.resize(images, (_THUMB, _THUMB), method="area").numpy()
    flat = small.reshape(len(images), -1).astype(np.float64)
    flat -= flat.mean(axis=1, keepdims=True)
    return flat / np.maximum(flat.std(axis=1, keepdims=True), 1e-8)


def _rms_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    squared = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(squared, 0.0) / a.shape[1])


def pairs_grid(
    samples: np.ndarray, training: dict[int, np.ndarray], matches: list[Match]
) -> np.ndarray:
    """An image of matched pairs, one row each: the sample (as matched), then the photo.

    Args:
        samples: the samples the matches index, (N, H, W, C) in [0, 1].
        training: the matched training photos by index.
        matches: the pairs to show, nearest first.

    Returns:
        (rows·H, 2·W, 3) uint8.
    """
    rows = []
    for match in matches:
        sample = samples[match.sample][:, ::-1, :] if match.mirrored else samples[match.sample]
        rows.append(np.concatenate([sample, training[match.training]], axis=1))
    grid = np.concatenate(rows, axis=0)
    if grid.shape[-1] == 1:
        grid = np.repeat(grid, 3, axis=-1)
    return (np.clip(grid, 0.0, 1.0) * 255).round().astype(np.uint8)


_TILE = 128  # side of each enlarged image in the annotated figure
_LABEL_WIDTH = 330


def pairs_figure(
    samples: np.ndarray,
    training: dict[int, np.ndarray],
    matches: list[Match],
    photo_ids: list[str],
    max_ratio: float,
) -> np.ndarray:
    """`pairs_grid` enlarged for people, each row labelled with its ratio and photo id.

    Args:
        samples, training, matches: as for `pairs_grid`.
        photo_ids: training photo ids, by index.
        max_ratio: the gate's threshold, stated in the title.

    Returns:
        (H, W, 3) uint8: a title line, then one row per pair: sample, photo, label.
    """
    from PIL import Image, ImageDraw, ImageFont

    grid = pairs_grid(samples, training, matches)
    enlarged = Image.fromarray(grid).resize(
        (2 * _TILE, _TILE * len(matches)), Image.Resampling.NEAREST
    )
    title_height = 28
    figure = Image.new(
        "RGB", (2 * _TILE + _LABEL_WIDTH, title_height + _TILE * len(matches)), "white"
    )
    figure.paste(enlarged, (0, title_height))
    draw = ImageDraw.Draw(figure)
    font = ImageFont.load_default(size=15)
    draw.text(
        (6, 6),
        f"sample | nearest training photo; a near-copy when ratio < {max_ratio:.2f}",
        fill="black",
        font=font,
    )
    for row, match in enumerate(matches):
        top = title_height + row * _TILE
        verdict = "NEAR-COPY" if match.ratio < max_ratio else "distinct"
        lines = [
            f"ratio {match.ratio:.3f}  ({verdict})",
            f"sample {match.sample}{' (mirrored)' if match.mirrored else ''}",
            f"photo {photo_ids[match.training]}",
            f"distance {match.distance:.3f}",
        ]
        for index, line in enumerate(lines):
            colour = "firebrick" if index == 0 and match.ratio < max_ratio else "black"
            draw.text((2 * _TILE + 10, top + 14 + 24 * index), line, fill=colour, font=font)
        draw.line((2 * _TILE, top, figure.width, top), fill=(200, 200, 200))
    return np.asarray(figure)
