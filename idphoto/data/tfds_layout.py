"""The dataset's TFDS layout: feature spec, example encoding and metadata files.

Shards are written by Beam as `{name}-{split}.tfrecord-XXXXX-of-YYYYY` (TFDS's default file
template), then `write_metadata` adds `dataset_info.json` and `features.json`, after which
`tfds.builder_from_directory(DIR).as_dataset(split="train")` loads them.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

from idphoto.data.dataset import shard_prefix

VERSION = "1.0.0"


def features(resolution: int, image_format: str):
    """Returns the `tfds.features.FeaturesDict` of one example."""
    import tensorflow_datasets as tfds  # late import: TensorFlow is slow to load

    text = tfds.features.Text
    return tfds.features.FeaturesDict(
        {
            "image": tfds.features.Image(
                shape=(resolution, resolution, 3), encoding_format=image_format
            ),
            "id": text(),
            "licence_spdx": text(),
            "licence_class": text(),
            "obligations": text(),
            "author": text(),
            "source_url": text(),
            "sha256": text(),
            "landmarks": tfds.features.Tensor(shape=(5, 2), dtype=np.float32),
        }
    )


def example(record: dict) -> dict:
    """Maps an accepted record to the feature dict of `features`."""
    return {
        "image": record["image_bytes"],
        "id": record["id"],
        "licence_spdx": record.get("spdx") or "",
        "licence_class": record.get("class") or "",
        "obligations": ",".join(record.get("obligations") or ()),
        "author": record.get("author") or "",
        "source_url": record.get("source_url") or "",
        "sha256": record["sha256"],
        "landmarks": np.asarray(record["aligned_landmarks"], dtype=np.float32),
    }


def write_metadata(
    directory: str, dataset_name: str, resolution: int, image_format: str, description: str
) -> dict[str, int]:
    """Writes `dataset_info.json` and `features.json` for the shards in `directory`.

    Splits with no examples are left out (TFDS cannot describe an empty split); their empty
    shard files are removed. When every split is empty (every photo was rejected), no metadata
    is written: the folder then holds the lineage and the report only.

    Returns:
        The number of examples per written split; empty when no split has examples.
    """
    import tensorflow as tf
    import tensorflow_datasets as tfds

    template = tfds.core.ShardedFileTemplate(
        data_dir=directory, dataset_name=dataset_name, filetype_suffix="tfrecord"
    )
    # TFDS prints its progress to stdout and a per-split bar to stderr: noise for our users.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        # Counted here, shards in parallel threads: with `out_dir` TFDS would start a second
        # Beam pipeline for it on the local runner, whatever runner the job itself used.
        split_infos = tfds.folder_dataset.compute_split_info(
            out_dir=None, filename_template=template
        )
    kept = [info for info in split_infos if info.num_examples > 0]
    for info in split_infos:
        if info.num_examples == 0:
            for path in tf.io.gfile.glob(shard_prefix(directory, dataset_name, info.name) + "*"):
                tf.io.gfile.remove(path)
    if not kept:
        return {}
    tfds.folder_dataset.write_metadata(
        data_dir=directory,
        features=features(resolution, image_format),
        split_infos=kept,
        filename_template=template,
        version=VERSION,
        description=description,
        check_data=True,
    )
    return {info.name: info.num_examples for info in kept}
