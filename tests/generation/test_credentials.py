"""Content Credentials: a local CA and signer, signed photos read back, tampering detected."""

import base64
import io
import logging
import os
import shutil
import stat
import struct
import zlib

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier
from PIL import Image
from skimage import data as skimage_data

from idphoto.errors import UserError
from idphoto.generation import signing_keys
from idphoto.generation.credentials import (
    TRAINED_ALGORITHMIC_MEDIA,
    CreationClaim,
    init_keys,
    load_signer,
    sign_photo,
    verify_photo,
)
from idphoto.generation.labelling import PhotoLabel, read_label, write_photo

SUFFIX = {"png": ".png", "jpeg": ".jpg"}
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
LABEL = PhotoLabel(
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
CLAIM = CreationClaim(
    model_name="idphoto-generator",
    model_version="3",
    model_uri="models:/idphoto-generator@champion",
    run_id="0a1b2c3d4e5f",
    seed=42,
    index=7,
    licence_classes={"cc0": 120, "cc-by": 30},
    lineage_sha256="9f" * 32,
    judged_use="commercial",
    watermark_id=4_200_007,
    obligations=("attribution",),
)


@pytest.fixture(scope="module")
def astronaut():
    """A real photo at the 413x531 px of a 35x45 mm ID photo at 300 dpi."""
    return np.asarray(Image.fromarray(skimage_data.astronaut()).resize((413, 531)))


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return init_keys(tmp_path_factory.mktemp("credentials") / "keys")


@pytest.fixture(scope="module")
def signer(keys):
    return load_signer(keys.folder)


def _labelled(astronaut, folder, fmt):
    """The bytes `write_photo` writes today: XMP label, dpi, visible mark; not yet signed."""
    return write_photo(
        astronaut, folder / f"unsigned{SUFFIX[fmt]}", LABEL, 300, "AI-generated", fmt
    )


def _signed(astronaut, folder, fmt, signer):
    path = folder / f"signed{SUFFIX[fmt]}"
    path.write_bytes(sign_photo(_labelled(astronaut, folder, fmt), fmt, CLAIM, signer))
    return path


def _pixels(data):
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def _png_chunks(data):
    """(type, payload) of every chunk after the signature."""
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        chunks.append((data[at + 4 : at + 8], data[at + 8 : at + 8 + length]))
        at += 12 + length
    return chunks


def _png(chunks):
    body = b"".join(
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
        for kind, payload in chunks
    )
    return b"\x89PNG\r\n\x1a\n" + body


def _tamper_png_pixels(data):
    """Changes one byte of the image data and re-deflates it: a valid PNG, other pixels."""
    chunks = _png_chunks(data)
    raw = bytearray(zlib.decompress(b"".join(p for kind, p in chunks if kind == b"IDAT")))
    raw[len(raw) // 2] ^= 0x40  # the middle row's middle: a data byte, not a filter-type byte
    first = next(i for i, (kind, _) in enumerate(chunks) if kind == b"IDAT")
    rest = [c for c in chunks[first:] if c[0] != b"IDAT"]
    return _png(chunks[:first] + [(b"IDAT", zlib.compress(bytes(raw)))] + rest)


def _tamper_jpeg_scan(data):
    """Flips a bit in the entropy-coded scan, away from markers, so the file still decodes."""
    start = data.rindex(b"\xff\xda")
    at = start + (len(data) - start) // 2
    while data[at - 1] == 0xFF or data[at] in (0xFE, 0xFF):
        at += 1
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def _corrupt_png_signature(data):
    """Flips a byte of the COSE signature: the last bytes of the manifest store's `caBX` chunk."""
    chunks = _png_chunks(data)
    i = next(i for i, (kind, _) in enumerate(chunks) if kind == b"caBX")
    store = bytearray(chunks[i][1])
    store[-10] ^= 0xFF
    chunks[i] = (b"caBX", bytes(store))
    return _png(chunks)


def test_private_key_is_0600_and_folder_0700_whatever_the_umask(tmp_path):
    old = os.umask(0)  # a permissive umask must not widen the key
    try:
        paths = init_keys(tmp_path / "keys")
    finally:
        os.umask(old)
    assert stat.S_IMODE(paths.folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(paths.key.stat().st_mode) == 0o600
    assert {p.name for p in paths.folder.iterdir()} == {"ca.pem", "signer.pem", "signer.key"}


def test_existing_keys_are_not_overwritten(tmp_path):
    paths = init_keys(tmp_path / "keys")
    before = {p: p.read_bytes() for p in (paths.ca, paths.chain, paths.key)}
    with pytest.raises(UserError, match="refusing to overwrite"):
        init_keys(tmp_path / "keys")
    assert {p: p.read_bytes() for p in before} == before


def test_overwrite_makes_new_keys_still_0600(tmp_path):
    paths = init_keys(tmp_path / "keys")
    old_key = paths.key.read_bytes()
    paths.key.chmod(0o644)  # a key someone made readable must not stay readable when replaced
    init_keys(tmp_path / "keys", overwrite=True)
    assert paths.key.read_bytes() != old_key
    assert stat.S_IMODE(paths.key.stat().st_mode) == 0o600
    load_signer(paths.folder)  # the new key matches the new certificate


def test_chain_validates_and_leaf_is_a_signer_not_a_ca(keys):
    leaf, issuer = x509.load_pem_x509_certificates(keys.chain.read_bytes())
    ca = x509.load_pem_x509_certificate(keys.ca.read_bytes())
    assert issuer == ca
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store([ca]))
        .extension_policies(
            ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=verification.ExtensionPolicy.permit_all(),
        )
        .build_client_verifier()
    )
    assert verifier.verify(leaf, []).chain == [leaf, ca]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    ekus = set(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert {ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING} <= ekus
    assert ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in ekus
    days = (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days
    assert 700 < days < 800 and ca.not_valid_after_utc > leaf.not_valid_after_utc


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_signed_photo_verifies_and_reads_back_the_claim(astronaut, tmp_path, signer, keys, fmt):
    unsigned = _labelled(astronaut, tmp_path, fmt)
    path = _signed(astronaut, tmp_path, fmt, signer)
    status = verify_photo(path, ca=keys.ca)
    assert (status.state, status.sdk_state, status.failures) == ("valid", "Trusted", ())
    assert {"signingCredential.trusted", "assertion.dataHash.match"} <= set(status.successes)
    assert status.digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    assert status.software_agent.startswith("idphoto ")
    assert status.parameters == {
        "model_name": "idphoto-generator",
        "model_version": "3",
        "model_uri": "models:/idphoto-generator@champion",
        "run_id": "0a1b2c3d4e5f",
        "seed": 42,
        "index": 7,
    }
    assert status.training_data == {
        "licence_classes": {"cc-by": 30, "cc0": 120},
        "obligations": ["attribution"],
        "lineage_sha256": "9f" * 32,
        "judged_use": "commercial",
        "watermark_id": 4_200_007,
    }
    assert status.signer.startswith("idphoto local signer")
    # The XMP label written before signing is still there, and the pixels are untouched.
    label = read_label(path)
    assert label["digital_source_type"] == TRAINED_ALGORITHMIC_MEDIA
    assert (label["run_id"], label["seed"], label["index"]) == ("0a1b2c3d4e5f", "42", "7")
    np.testing.assert_array_equal(_pixels(path.read_bytes()), _pixels(unsigned))


@pytest.mark.parametrize(
    ("fmt", "tamper"), [("png", _tamper_png_pixels), ("jpeg", _tamper_jpeg_scan)]
)
def test_changed_pixels_are_invalid_with_a_hash_mismatch(
    astronaut, tmp_path, signer, keys, fmt, tamper
):
    path = _signed(astronaut, tmp_path, fmt, signer)
    signed = path.read_bytes()
    tampered = tamper(signed)
    assert not np.array_equal(_pixels(tampered), _pixels(signed))  # still decodes, differs
    path.write_bytes(tampered)
    status = verify_photo(path, ca=keys.ca)
    assert (status.state, status.sdk_state) == ("invalid", "Invalid")
    assert "assertion.dataHash.mismatch" in status.failures
    assert "do not match" in status.reason


def test_corrupted_signature_is_invalid(astronaut, tmp_path, signer, keys):
    path = _signed(astronaut, tmp_path, "png", signer)
    path.write_bytes(_corrupt_png_signature(path.read_bytes()))
    status = verify_photo(path, ca=keys.ca)
    assert status.state == "invalid"
    assert "claimSignature.mismatch" in status.failures


def test_edited_licence_summary_is_invalid(astronaut, tmp_path, signer, keys):
    path = _signed(astronaut, tmp_path, "jpeg", signer)
    signed = path.read_bytes()
    at = signed.index(b"commercial")  # the judged use, inside the training-data assertion
    path.write_bytes(signed[:at] + b"research  " + signed[at + len(b"commercial") :])
    status = verify_photo(path, ca=keys.ca)
    assert status.state == "invalid"
    assert "assertion.hashedURI.mismatch" in status.failures


def test_unparseable_manifest_is_invalid(astronaut, tmp_path, signer, keys):
    path = _signed(astronaut, tmp_path, "png", signer)
    chunks = [(k, b"\0" * 100 if k == b"caBX" else p) for k, p in _png_chunks(path.read_bytes())]
    path.write_bytes(_png(chunks))
    status = verify_photo(path, ca=keys.ca)
    assert (status.state, status.sdk_state) == ("invalid", "")
    assert status.reason.startswith("unreadable C2PA manifest")


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_photo_resaved_without_metadata_has_no_credentials(astronaut, tmp_path, signer, keys, fmt):
    path = _signed(astronaut, tmp_path, fmt, signer)
    with Image.open(path) as image:
        image.save(tmp_path / f"resaved{SUFFIX[fmt]}")
    status = verify_photo(tmp_path / f"resaved{SUFFIX[fmt]}", ca=keys.ca)
    assert (status.state, status.failures, status.digital_source_type) == ("absent", (), "")


def test_unsigned_photo_has_no_credentials(astronaut, tmp_path, keys):
    _labelled(astronaut, tmp_path, "png")
    assert verify_photo(tmp_path / "unsigned.png", ca=keys.ca).state == "absent"


def test_photo_signed_under_another_ca_is_untrusted_not_valid(astronaut, tmp_path, keys):
    other = init_keys(tmp_path / "other-keys", common_name="someone else")
    path = _signed(astronaut, tmp_path, "png", load_signer(other.folder))
    ours = verify_photo(path, ca=keys.ca)
    assert (ours.state, ours.sdk_state) == ("untrusted", "Valid")
    assert ours.failures == ("signingCredential.untrusted",)
    assert ours.signer.startswith("someone else")
    assert verify_photo(path, ca=other.ca).state == "valid"
    assert verify_photo(path).state == "untrusted"  # no anchor at all: intact, not trusted


def test_key_not_matching_the_certificate_is_one_clear_error(tmp_path):
    ours = init_keys(tmp_path / "ours")
    theirs = init_keys(tmp_path / "theirs")
    shutil.copyfile(theirs.key, ours.key)
    with pytest.raises(UserError) as raised:
        load_signer(ours.folder)
    message = str(raised.value)
    assert "does not match" in message and "\n" not in message
    assert "PRIVATE KEY" not in message


def test_expired_certificate_is_refused(keys, monkeypatch):
    later = signing_keys._now() + signing_keys.dt.timedelta(days=3 * 365)
    monkeypatch.setattr(signing_keys, "_now", lambda: later)
    with pytest.raises(UserError, match="expired on"):
        load_signer(keys.folder)


def test_missing_key_file_is_one_clear_error(keys, tmp_path):
    with pytest.raises(UserError, match="no signing key at"):
        load_signer(chain=keys.chain, key=tmp_path / "nowhere.key")


def _secrets(key_path):
    """Ways a private key could leak: its PEM body, a slice of it, its DER, its scalar."""
    pem = key_path.read_text()
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    body = "".join(pem.strip().splitlines()[1:-1])
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return [body, body[20:60], scalar.hex(), base64.b64encode(scalar).decode()], [scalar, der]


def test_private_key_never_appears_in_output_logs_or_photos(astronaut, tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    paths = init_keys(tmp_path / "keys")
    texts, blobs = _secrets(paths.key)
    signer = load_signer(paths.folder)
    signed = _signed(astronaut, tmp_path, "jpeg", signer).read_bytes()
    status = verify_photo(tmp_path / "signed.jpg", ca=paths.ca)
    other = init_keys(tmp_path / "other").key
    other_texts, _ = _secrets(other)
    shutil.copyfile(other, paths.key)
    with pytest.raises(UserError) as mismatch:
        load_signer(paths.folder)
    captured = capsys.readouterr()
    shown = [captured.out, captured.err, caplog.text, repr(signer), repr(paths), repr(status)]
    shown.append(str(mismatch.value))
    for secret in texts + other_texts:
        assert not any(secret in text for text in shown)
    for secret in blobs:
        assert secret not in signed
