"""Signed C2PA Content Credentials for generated photos, written and verified offline.

`sign_photo` adds a C2PA manifest (https://spec.c2pa.org/) to a photo that already carries its
XMP label: a `c2pa.created` action with the IPTC digital source type `trainedAlgorithmicMedia`
and the model, and a `dev.idphoto.training-data` assertion with the training data's licence
summary. The claim's hard binding (a hash of the whole file but the manifest) covers the XMP
too. `verify_photo` reads a photo back and says whether its credentials are valid and trusted,
given the local CA as the only trust anchor. No timestamp authority, OCSP or remote manifest is
contacted: both directions work without a network.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import c2pa
from PIL import Image, UnidentifiedImageError

import idphoto
from idphoto.errors import UserError
from idphoto.generation.labelling import ImageFormat
from idphoto.generation.signing_keys import KeyPaths, PhotoSigner, init_keys, load_signer

__all__ = [
    "CreationClaim",
    "CredentialStatus",
    "KeyPaths",
    "PhotoSigner",
    "init_keys",
    "load_signer",
    "sign_photo",
    "verify_photo",
]

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
TRAINING_DATA_LABEL = "dev.idphoto.training-data"
SOFTWARE_AGENT = {"name": "idphoto", "version": idphoto.__version__}

CredentialState = Literal["valid", "untrusted", "invalid", "absent"]

_MIME: dict[str, str] = {"png": "image/png", "jpeg": "image/jpeg"}
_EXTENSIONS: dict[str, ImageFormat] = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg"}
# Offline: no remote manifests, no OCSP. No thumbnail: it would be a second copy of the face and
# double the file. verify_after_sign (the SDK default, ~0.7 ms) re-reads every signed photo.
_OFFLINE_VERIFY = {"remote_manifest_fetch": False, "ocsp_fetch": False}
_SIGN_SETTINGS = {
    "verify": {**_OFFLINE_VERIFY, "verify_after_sign": True},
    "builder": {"thumbnail": {"enabled": False}},
}


@dataclasses.dataclass(frozen=True)
class CreationClaim:
    """What a photo's Content Credentials state about how it was made.

    Attributes:
        model_name, model_version: the registered model; empty for a `runs:/` URI.
        model_uri: the MLflow model URI the photo was generated with.
        run_id: the MLflow run that trained the model.
        seed, index: the latent of the photo is drawn from (seed, index).
        licence_classes: training photos by licence class (`LineageSummary.by_class`).
        lineage_sha256: the digest of the training data's lineage.
        judged_use: the use the training data was judged for ('research', 'commercial').
        watermark_id: the 32-bit photo id its invisible watermark carries (`watermark.embed`).
        obligations: what the training licences ask for (attribution, share-alike...).
    """

    model_name: str
    model_version: str
    model_uri: str
    run_id: str
    seed: int
    index: int
    licence_classes: Mapping[str, int]
    lineage_sha256: str
    judged_use: str
    watermark_id: int
    obligations: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class CredentialStatus:
    """The verdict on a photo's Content Credentials, and what they claim.

    Attributes:
        state: 'valid' (intact, signed by a certificate chaining to the trust anchor),
            'untrusted' (intact, but the signer does not chain to the anchor), 'invalid'
            (tampered, bad signature or unreadable manifest) or 'absent' (no manifest).
        sdk_state: the SDK's `validation_state` ('Trusted', 'Valid', 'Invalid'); '' when there is
            no manifest or the SDK could not parse it.
        failures: the SDK's failure codes (e.g. 'assertion.dataHash.mismatch').
        successes: the SDK's success codes (e.g. 'signingCredential.trusted').
        reason: one line for a user: the failures' explanations, or why there is no verdict.
        digital_source_type: of the `c2pa.created` action; '' if none.
        software_agent: 'name version' of the `c2pa.created` action.
        parameters: the `c2pa.created` action's parameters (model, run, seed, index).
        training_data: the `dev.idphoto.training-data` assertion; empty if none.
        signer: the signing certificate's common name and issuer organisation.
    """

    state: CredentialState
    sdk_state: str = ""
    failures: tuple[str, ...] = ()
    successes: tuple[str, ...] = ()
    reason: str = ""
    digital_source_type: str = ""
    software_agent: str = ""
    parameters: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    training_data: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    signer: str = ""


def manifest_definition(claim: CreationClaim, fmt: ImageFormat) -> dict[str, Any]:
    """The C2PA manifest definition (the SDK's JSON) for a generated photo."""
    created = {
        "action": "c2pa.created",
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": SOFTWARE_AGENT,
        "parameters": {
            "model_name": claim.model_name,
            "model_version": claim.model_version,
            "model_uri": claim.model_uri,
            "run_id": claim.run_id,
            "seed": claim.seed,
            "index": claim.index,
        },
    }
    training_data = {
        "licence_classes": dict(sorted(claim.licence_classes.items())),
        "obligations": list(claim.obligations),
        "lineage_sha256": claim.lineage_sha256,
        "judged_use": claim.judged_use,
        "watermark_id": claim.watermark_id,
    }
    return {
        "claim_generator_info": [SOFTWARE_AGENT],
        "format": _MIME[fmt],
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [created]}},
            {"label": TRAINING_DATA_LABEL, "data": training_data},
        ],
    }


def sign_photo(data: bytes, fmt: ImageFormat, claim: CreationClaim, signer: PhotoSigner) -> bytes:
    """Returns `data` with a signed C2PA manifest embedded (PNG `caBX` chunk, JPEG APP11).

    Args:
        data: the encoded photo, its XMP label already written (the signature then covers it).
        fmt: 'png' or 'jpeg'.
        claim: what the credentials state.
        signer: from `load_signer`.

    Returns:
        The signed photo's bytes.

    Raises:
        RuntimeError: the signed photo lost or changed its XMP packet.
        c2pa.C2paError: the SDK could not sign (e.g. a certificate it refuses).
    """
    if fmt not in _MIME:
        raise ValueError(f"unsupported image format {fmt!r}")
    with c2pa.Context.from_dict(_SIGN_SETTINGS) as context:
        builder = c2pa.Builder(manifest_definition(claim, fmt), context=context)
    signed = io.BytesIO()
    builder.sign(signer.native(), _MIME[fmt], io.BytesIO(data), signed)
    result = signed.getvalue()
    if _xmp_packet(result) != _xmp_packet(data):
        raise RuntimeError("signing changed or dropped the photo's XMP label")
    return result


def verify_photo(
    path: str | os.PathLike, ca: str | os.PathLike | bytes | None = None
) -> CredentialStatus:
    """Reads and validates a photo's Content Credentials, offline.

    Args:
        path: a PNG or JPEG file.
        ca: the trust anchor (a PEM path or PEM bytes), e.g. the `ca.pem` of `init_keys`; it
            replaces the SDK's trust list. None keeps the SDK's list, which does not hold a
            local CA: our intact photos then come out 'untrusted'.

    Returns:
        The verdict, the SDK's codes and the claim read back.

    Raises:
        UserError: the file cannot be read or is not .png/.jpg/.jpeg.
    """
    path = Path(path)
    fmt = _EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise UserError(f"{path}: cannot tell the image format; use .png, .jpg or .jpeg")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror}") from None
    settings: dict[str, Any] = {"verify": _OFFLINE_VERIFY}
    if ca is not None:
        settings["trust"] = {"trust_anchors": _pem_text(ca)}
    try:
        with (
            c2pa.Context.from_dict(settings) as context,
            c2pa.Reader(_MIME[fmt], io.BytesIO(data), context=context) as reader,
        ):
            store = json.loads(reader.json())
    except c2pa.C2paError.ManifestNotFound:
        return CredentialStatus(state="absent", reason="no C2PA manifest")
    except c2pa.C2paError as err:
        # A manifest store the SDK cannot even parse is as bad as one that fails its checks.
        return CredentialStatus(state="invalid", reason=f"unreadable C2PA manifest: {err}")
    return _status(store)


def _status(store: Mapping[str, Any]) -> CredentialStatus:
    """Turns the Reader's JSON into a verdict and the claim's fields."""
    results = store.get("validation_results", {}).get("activeManifest", {})
    failures = tuple(item["code"] for item in results.get("failure", []))
    if not results:  # older layout: only the flat list of failures
        failures = tuple(item["code"] for item in store.get("validation_status") or [])
    successes = tuple(item["code"] for item in results.get("success", []))
    sdk_state = store.get("validation_state") or ""
    manifest = store.get("manifests", {}).get(store.get("active_manifest"), {})
    created = _created_action(manifest)
    agent = created.get("softwareAgent") or {}
    if isinstance(agent, Mapping):
        agent = " ".join(str(agent[k]) for k in ("name", "version") if agent.get(k))
    info = manifest.get("signature_info") or {}
    explanations = [item.get("explanation", item["code"]) for item in results.get("failure", [])]
    return CredentialStatus(
        state=_state(sdk_state, failures),
        sdk_state=sdk_state,
        failures=failures,
        successes=successes,
        reason="; ".join(explanations) or ("" if sdk_state else "the SDK gave no verdict"),
        digital_source_type=created.get("digitalSourceType", ""),
        software_agent=str(agent),
        parameters=created.get("parameters") or {},
        training_data=_assertion(manifest, TRAINING_DATA_LABEL),
        signer=", ".join(v for v in (info.get("common_name"), info.get("issuer")) if v),
    )


def _state(sdk_state: str, failures: tuple[str, ...]) -> CredentialState:
    """'Trusted' with no failure is valid; 'Valid' means intact but not trusted (the SDK reports
    `signingCredential.untrusted` as a failure yet keeps the state 'Valid'); all else invalid."""
    if sdk_state == "Trusted" and not failures:
        return "valid"
    if sdk_state == "Valid":
        return "untrusted"
    return "invalid"


def _created_action(manifest: Mapping[str, Any]) -> Mapping[str, Any]:
    """The `c2pa.created` action of the manifest's actions assertion; empty if none."""
    for label in ("c2pa.actions.v2", "c2pa.actions"):
        for action in _assertion(manifest, label).get("actions", []):
            if action.get("action") == "c2pa.created":
                return action
    return {}


def _assertion(manifest: Mapping[str, Any], label: str) -> Mapping[str, Any]:
    for assertion in manifest.get("assertions", []):
        if assertion.get("label") == label:
            return assertion.get("data") or {}
    return {}


def _xmp_packet(data: bytes) -> bytes | None:
    """The photo's XMP packet as Pillow reads it (PNG iTXt, JPEG APP1); None if it has none."""
    try:
        with Image.open(io.BytesIO(data)) as picture:
            xmp = picture.info.get("xmp")
    except (OSError, UnidentifiedImageError):
        return None
    return xmp.encode("utf-8") if isinstance(xmp, str) else xmp


def _pem_text(ca: str | os.PathLike | bytes) -> str:
    if isinstance(ca, bytes):
        return ca.decode("ascii")
    try:
        return Path(ca).read_text(encoding="ascii")
    except OSError as err:
        raise UserError(f"cannot read the trust anchor {ca}: {err.strerror}") from None
