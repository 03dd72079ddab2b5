"""The embedded sample dataset: synthetic portraits plus public-domain portraits from installed
packages, with a manifest whose licence mix makes every licence decision appear.

Nothing is downloaded: synthetic portraits are drawn by `idphoto.sample_data.portraits`, and the two
real photos are files that scikit-image and matplotlib ship.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import shutil
from collections.abc import Callable, Iterator

import numpy as np
from PIL import Image

from idphoto import publish
from idphoto.sample_data.portraits import draw_portrait

MANIFEST = "manifest.csv"
_PORTRAITS_PER_WORKER = 100  # below this, starting a worker process costs more than it saves
_COLUMNS = ("id", "path", "licence", "author", "source_url", "title", "consent", "landmarks")

# Licence strings as they are found in the wild, with consent, cycled over the synthetic photos.
# Together they make every licence decision and reason of the default policy appear.
_LICENCE_MIX = (
    ("CC0-1.0", "true"),
    ("http://creativecommons.org/publicdomain/mark/1.0/", "true"),
    ("CC BY 2.0", "true"),
    ("https://creativecommons.org/licenses/by-sa/4.0/deed.en", "true"),
    ("Attribution-NonCommercial License", "true"),
    ("CC BY-ND 4.0", "true"),
    ("All Rights Reserved", "true"),
    ("", "true"),
    ("CC-BY-4.0", ""),
    ("by", "false"),
    ("licence: see website??", "true"),
    ("CC0 1.0 Universal", "true"),
    ("Attribution-NonCommercial-ShareAlike License", "true"),
)

# Real public-domain portraits shipped inside installed packages, with their true provenance.
_REAL_PORTRAITS = (
    {
        "id": "astronaut-eileen-collins",
        "file": "astronaut.png",
        # As scikit-image documents it: from NASA's Great Images collection on Flickr.
        "licence": "No known copyright restrictions",
        "author": "NASA",
        "source_url": "https://flic.kr/p/r9qvLn",
        "title": "Eileen Collins, NASA astronaut (scikit-image data.astronaut)",
    },
    {
        "id": "grace-hopper",
        "file": "grace_hopper.jpg",
        "licence": "Public Domain (US Navy)",
        "author": "James S. Davis, U.S. Navy",
        "source_url": "https://commons.wikimedia.org/wiki/File:Commodore_Grace_M._Hopper,_USN_(covered).jpg",
        "title": "Commodore Grace M. Hopper (matplotlib sample data)",
    },
)


def write_sample_dataset(
    out: str,
    n: int,
    seed: int,
    size: int = 256,
    overwrite: bool = False,
    progress: Callable[[int], object] | None = None,
) -> str:
    """Writes `n` synthetic portraits, the real portraits and `manifest.csv` into `out`.

    Two extra rows repeat a synthetic photo, once byte-identical and once re-encoded smaller,
    so exact and near-duplicate detection have something to find.

    Args:
        out: folder to write into.
        n: number of synthetic portraits.
        seed: seed of the synthetic portraits.
        size: their side in pixels.
        overwrite: replace a non-empty `out`.
        progress: called with 1 after each portrait.

    Returns:
        The manifest's path.
    """
    staging = publish.prepare_staging(out, overwrite)
    try:
        _write_into(staging, n, seed, size, progress or (lambda _: None))
        publish.publish(staging, out)
    except BaseException:
        publish.discard(staging)
        raise
    return os.path.join(out, MANIFEST)


def _write_into(
    folder: str, n: int, seed: int, size: int, progress: Callable[[int], object]
) -> None:
    images = os.path.join(folder, "images")
    os.makedirs(images)
    rows = list(_synthetic_rows(images, n, seed, size, progress))
    rows += list(_duplicate_rows(images, rows[0]))
    rows += list(_real_rows(images))
    with open(os.path.join(folder, MANIFEST), "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def _synthetic_rows(
    images: str, n: int, seed: int, size: int, progress: Callable[[int], object]
) -> Iterator[dict]:
    jobs = [(images, seed, index, size) for index in range(n)]
    workers = min(len(os.sched_getaffinity(0)), max(1, n // _PORTRAITS_PER_WORKER))
    if workers < 2:
        drawn = map(_draw_and_save, jobs)
        yield from _rows(drawn, progress)
        return
    # Spawned, not forked: the caller may hold TensorFlow's or Beam's threads.
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool:
        yield from _rows(pool.imap(_draw_and_save, jobs, chunksize=16), progress)


def _rows(drawn: Iterator[tuple[int, list]], progress: Callable[[int], object]) -> Iterator[dict]:
    for index, landmarks in drawn:
        licence, consent = _LICENCE_MIX[index % len(_LICENCE_MIX)]
        yield {
            "id": f"synthetic-{index:04d}",
            "path": f"images/synthetic-{index:04d}.png",
            "licence": licence,
            "author": f"Synthetic Studio {index % 7}",
            "source_url": f"https://example.org/idphoto-sample/{index:04d}",
            "title": f"Synthetic portrait {index}",
            "consent": consent,
            "landmarks": json.dumps(landmarks),
        }
        progress(1)


def _draw_and_save(job: tuple[str, int, int, int]) -> tuple[int, list]:
    """Draws portrait `index` of `seed`, writes its PNG, returns its rounded landmarks."""
    images, seed, index, size = job
    portrait = draw_portrait(np.random.default_rng([seed, index]), size)
    # zlib level 1: the sensor noise makes PNGs incompressible anyway, and level 6 took as
    # long as drawing the portrait.
    Image.fromarray(portrait.image).save(
        os.path.join(images, f"synthetic-{index:04d}.png"), compress_level=1
    )
    return index, np.round(portrait.landmarks, 2).tolist()


def _duplicate_rows(images: str, original: dict) -> Iterator[dict]:
    source = os.path.join(images, os.path.basename(original["path"]))
    exact = "synthetic-copy.png"
    shutil.copyfile(source, os.path.join(images, exact))
    yield {**original, "id": "synthetic-zz-exact-copy", "path": f"images/{exact}"}
    # Re-encoded as a smaller JPEG: different bytes and pixels, same photo to the eye.
    near = "synthetic-reencoded.jpg"
    with Image.open(source) as image:
        scale = 0.75
        smaller = image.convert("RGB").resize((int(image.width * scale), int(image.height * scale)))
    smaller.save(os.path.join(images, near), quality=80)
    landmarks = (np.array(json.loads(original["landmarks"])) * scale).round(2).tolist()
    yield {
        **original,
        "id": "synthetic-zz-reencoded",
        "path": f"images/{near}",
        "landmarks": json.dumps(landmarks),
    }


def _real_rows(images: str) -> Iterator[dict]:
    for photo in _REAL_PORTRAITS:
        with open(os.path.join(images, photo["file"]), "wb") as handle:
            handle.write(_real_portrait_bytes(photo["file"]))
        yield {
            "id": photo["id"],
            "path": f"images/{photo['file']}",
            "licence": photo["licence"],
            "author": photo["author"],
            "source_url": photo["source_url"],
            "title": photo["title"],
            "consent": "",
            "landmarks": "",  # left out on purpose: the face detector finds them
        }


def _real_portrait_bytes(name: str) -> bytes:
    """Returns the file's original bytes as the installed package ships them."""
    if name == "astronaut.png":
        import skimage.data

        with open(os.path.join(os.path.dirname(skimage.data.__file__), name), "rb") as handle:
            return handle.read()
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        return handle.read()
