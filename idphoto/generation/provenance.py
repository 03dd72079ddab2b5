"""What a generated photo says about where it came from: its watermark id and the licence summary
of the data its model was trained on, as the Content Credentials and `manifest.json` state them."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from idphoto.errors import UserError
from idphoto.generation.credentials import CreationClaim, PhotoSigner, load_signer
from idphoto.generation.model_ref import ModelRef
from idphoto.generation.signing_keys import default_key_folder, key_paths


@dataclasses.dataclass(frozen=True)
class TrainingData:
    """The licence summary of a model's training data, from its training run's lineage tags.

    Attributes:
        licence_classes: accepted training photos by licence class.
        lineage_sha256: the content digest of the training dataset ('' when unknown).
        judged_use: the use the photos' licences were judged for ('' when unknown).
        obligations: what those licences ask for (attribution, share-alike...).
    """

    licence_classes: dict[str, int]
    lineage_sha256: str
    judged_use: str
    obligations: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """The summary as `manifest.json` records it."""
        return dataclasses.asdict(self) | {"obligations": list(self.obligations)}


def training_data(ref: ModelRef) -> TrainingData:
    """Reads the licence summary of the run that trained `ref` (`idphoto.lineage.*` tags).

    A model without a training run, or whose run carries no lineage tags, gets an empty summary:
    the credentials then say the training data is unknown rather than invent it.
    """
    from mlflow.tracking import MlflowClient

    from idphoto.tracking.lineage import summary_from_tags

    if not ref.run_id:
        return TrainingData({}, "", "", ())
    summary = summary_from_tags(MlflowClient().get_run(ref.run_id).data.tags)
    obligations = summary.get("obligations", "none")
    return TrainingData(
        licence_classes={k: int(v) for k, v in json.loads(summary.get("by_class", "{}")).items()},
        lineage_sha256=summary.get("content_sha256", ""),
        judged_use=summary.get("ingest_use", ""),
        obligations=tuple(o for o in obligations.split(",") if o and o != "none"),
    )


def photo_id(ref: ModelRef, seed: int, index: int) -> int:
    """The 32-bit id photo `index` carries in its watermark: a hash of the model and its latent,
    so the same photo always gets the same id and photos of other models or seeds others."""
    text = f"{ref.run_id}|{ref.uri}|{seed}|{index}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=4).digest(), "big")


def creation_claim(
    ref: ModelRef, seed: int, index: int, data: TrainingData, watermark_id: int
) -> CreationClaim:
    """The Content Credentials claim of one generated photo."""
    return CreationClaim(
        model_name=ref.name,
        model_version=ref.version,
        model_uri=ref.uri,
        run_id=ref.run_id,
        seed=seed,
        index=index,
        licence_classes=data.licence_classes,
        lineage_sha256=data.lineage_sha256,
        judged_use=data.judged_use,
        watermark_id=watermark_id,
        obligations=data.obligations,
    )


def signing_identity(folder: str | os.PathLike | None) -> tuple[PhotoSigner, Path]:
    """Loads the signing keys of `folder` (the default key folder when None) and returns the
    signer and the folder.

    Raises:
        UserError: the folder holds no keys (the message says how to make them), or they do
            not load.
    """
    folder = Path(folder) if folder is not None else default_key_folder()
    paths = key_paths(folder)
    if not paths.chain.exists() and not paths.key.exists():
        raise UserError(
            f"no signing keys in {folder}: run `idphoto keys init` (or pass --keys DIR holding "
            "signer.pem and signer.key)"
        )
    return load_signer(folder), folder


def format_id(watermark_id: int) -> str:
    """A watermark id as written in manifests and reports: 8 hex digits."""
    return f"{watermark_id:08x}"
