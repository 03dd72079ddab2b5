"""Reads back every AI-generation label a photo may still carry: its invisible watermark, its
C2PA Content Credentials and its XMP metadata (`idphoto detect`, `idphoto generate --verify`).

Each label survives different things: the XMP label and the credentials are lost to a
screenshot or a re-save, the watermark is not; the credentials prove who signed the photo and
that it was not changed since, which the other two cannot.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from idphoto.errors import UserError
from idphoto.generation import watermark
from idphoto.generation.credentials import CredentialStatus, verify_photo
from idphoto.generation.labelling import read_label
from idphoto.generation.provenance import format_id

_CREDENTIAL_FORMATS = (".png", ".jpg", ".jpeg")


@dataclasses.dataclass(frozen=True)
class PhotoReport:
    """What one file carries.

    Attributes:
        file: the path as given.
        watermark: the watermark search's result.
        credentials: the Content Credentials' verdict ('absent' for formats C2PA is not read from).
        xmp: the XMP label's properties (empty without one).
        generated_as: the photo's entry in a generation manifest, found by its watermark id.
    """

    file: str
    watermark: watermark.Detection
    credentials: CredentialStatus
    xmp: dict[str, str]
    generated_as: dict[str, Any] | None = None

    @property
    def labelled(self) -> bool:
        """The file carries at least one AI-generation label."""
        return (
            self.watermark.found
            or self.credentials.state != "absent"
            or bool(self.xmp.get("digital_source_type"))
        )

    def to_dict(self) -> dict[str, Any]:
        """The report as one JSON object."""
        found = self.watermark
        return {
            "file": self.file,
            "labelled": self.labelled,
            "watermark": {
                "found": found.found,
                "id": format_id(found.photo_id) if found.photo_id is not None else None,
                "scale": round(found.scale, 3) if found.found and found.scale else None,
            },
            "c2pa": {
                "state": self.credentials.state,
                "failures": list(self.credentials.failures),
                "reason": self.credentials.reason,
                "digital_source_type": self.credentials.digital_source_type,
                "signer": self.credentials.signer,
                "parameters": dict(self.credentials.parameters),
                "training_data": dict(self.credentials.training_data),
            },
            "xmp": self.xmp,
            "generated_as": self.generated_as,
        }


def inspect_photo(
    path: str | os.PathLike,
    ca: str | os.PathLike | None = None,
    manifest_photos: dict[str, dict[str, Any]] | None = None,
) -> PhotoReport:
    """Looks for the three labels in one image file.

    Args:
        path: any image Pillow reads (a screenshot, a re-saved JPEG, the original PNG).
        ca: the trust anchor the credentials are checked against.
        manifest_photos: generation-manifest entries by watermark id (`manifest_index`).

    Raises:
        UserError: the file cannot be read as an image.
    """
    try:
        with Image.open(path) as picture:
            pixels = np.asarray(picture.convert("RGB"))
    except (OSError, UnidentifiedImageError) as err:
        raise UserError(f"cannot read {path} as an image: {err}") from None
    found = watermark.detect(pixels)
    if Path(path).suffix.lower() in _CREDENTIAL_FORMATS:
        credentials = verify_photo(path, ca)
        xmp = read_label(path)
    else:
        credentials = CredentialStatus(state="absent", reason="not a PNG or JPEG file")
        xmp = {}
    entry = None
    if manifest_photos is not None and found.photo_id is not None:
        entry = manifest_photos.get(format_id(found.photo_id))
    return PhotoReport(str(path), found, credentials, xmp, entry)


def manifest_index(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """A generation manifest's photos by watermark id, each with the manifest's model.

    Raises:
        UserError: the file is missing or not a generation manifest.
    """
    try:
        manifest = json.loads(Path(path).read_text(encoding="utf-8"))
        photos, model = manifest["photos"], manifest["model"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"{path} is not a readable generation manifest: {err}") from None
    return {
        photo["watermark_id"]: {"file": photo["file"], "index": photo["index"], "model": model}
        for photo in photos
        if "watermark_id" in photo
    }
