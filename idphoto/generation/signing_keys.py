"""The keys that sign Content Credentials: a local CA and the certificate photos are signed with.

The C2PA SDK refuses a self-signed signing certificate, so `init_keys` makes a two-link chain: a
local CA (ES256, 10 years) and an end-entity certificate it issues (ES256, 2 years) with the
usages the C2PA trust model asks of a claim signer
(https://spec.c2pa.org/specifications/specifications/2.1/specs/C2PA_Specification.html,
"Certificate Profile"). Anyone verifying photos trusts `ca.pem`; `signer.key` never leaves the
machine. No key material is ever printed or logged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import threading
from pathlib import Path

import c2pa
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from idphoto.errors import UserError

CA_FILE = "ca.pem"
CHAIN_FILE = "signer.pem"
KEY_FILE = "signer.key"

_CA_DAYS = 3650
_LEAF_DAYS = 730
_BACKDATE = dt.timedelta(minutes=5)  # tolerates a verifier whose clock is a little behind
# id-kp-documentSigning (RFC 9336), named by C2PA 2.x, and emailProtection: the SDK's default
# trust configuration (c2pa-rs 0.91) refuses a certificate whose only EKU is documentSigning.
_DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
_SIGNING_EKUS = (ExtendedKeyUsageOID.EMAIL_PROTECTION, _DOCUMENT_SIGNING)


@dataclasses.dataclass(frozen=True)
class KeyPaths:
    """Where `init_keys` wrote the signing material.

    Attributes:
        folder: the key folder (mode 0700).
        ca: the CA certificate, the trust anchor to give verifiers.
        chain: the signing certificate followed by the CA certificate (PEM).
        key: the signing certificate's private key (PKCS#8 PEM, mode 0600).
    """

    folder: Path
    ca: Path
    chain: Path
    key: Path


class PhotoSigner:
    """A loaded signing identity: the certificate chain and its private key, checked.

    The repr names the certificate, never the key. The SDK signer is made once per thread (the
    native handle is not documented as safe to share between threads). Not picklable: a worker
    process calls `load_signer` itself.

    Args:
        chain_pem: the signing certificate, then its issuers.
        key_pem: the signing certificate's private key.
        ca_pem: the trust anchor, if known.
        leaf: the parsed signing certificate.
    """

    def __init__(
        self, chain_pem: bytes, key_pem: bytes, ca_pem: bytes | None, leaf: x509.Certificate
    ):
        self.chain_pem = chain_pem
        self._key_pem = key_pem
        self.ca_pem = ca_pem
        self.subject = leaf.subject.rfc4514_string()
        self.not_after = leaf.not_valid_after_utc
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"PhotoSigner(subject={self.subject!r}, not_after={self.not_after.isoformat()})"

    def native(self) -> c2pa.Signer:
        """This thread's ES256 SDK signer, with no timestamp authority (signing stays offline)."""
        signer = getattr(self._local, "signer", None)
        if signer is None:
            info = c2pa.C2paSignerInfo(
                c2pa.C2paSigningAlg.ES256, self.chain_pem, self._key_pem, None
            )
            signer = self._local.signer = c2pa.Signer.from_info(info)
        return signer


def default_key_folder() -> Path:
    """The key folder commands use without `--keys`: `$IDPHOTO_KEYS`, else `idphoto/keys` under
    the user's configuration folder (`$XDG_CONFIG_HOME`, default `~/.config`) — outside any
    project tree, so a private key cannot be committed with it."""
    if os.environ.get("IDPHOTO_KEYS"):
        return Path(os.environ["IDPHOTO_KEYS"])
    config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
    return Path(config_home) / "idphoto" / "keys"


def key_paths(folder: str | os.PathLike) -> KeyPaths:
    """The standard file names inside a key folder."""
    folder = Path(folder)
    return KeyPaths(folder, folder / CA_FILE, folder / CHAIN_FILE, folder / KEY_FILE)


def init_keys(
    folder: str | os.PathLike, common_name: str = "idphoto local signer", overwrite: bool = False
) -> KeyPaths:
    """Creates a local CA and a signing certificate it issues, and writes them to `folder`.

    The CA's private key is used once and discarded, so nothing on disk can issue more
    certificates under this CA. Renewing the signer therefore means a new CA: keep the old
    `ca.pem` (verifiers accept a PEM bundle of several CAs) to verify older photos.

    Args:
        folder: created with mode 0700 if missing (and set to 0700 if it exists).
        common_name: the signer's name, shown by C2PA readers; the CA is '<common_name> CA'.
        overwrite: replace keys already in `folder`; without it existing keys are an error.

    Returns:
        The paths written.

    Raises:
        UserError: `folder` already holds keys and `overwrite` is False.
    """
    paths = key_paths(folder)
    existing = [p.name for p in (paths.ca, paths.chain, paths.key) if p.exists()]
    if existing and not overwrite:
        raise UserError(
            f"{paths.folder} already holds {', '.join(existing)}; refusing to overwrite"
        )
    paths.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    paths.folder.chmod(0o700)  # a folder, not a key: widening it later is what would leak keys
    now = _now()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"{common_name} CA")
    ca_cert = _ca_certificate(ca_key, ca_name, now)
    signer_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _leaf_certificate(signer_key.public_key(), _name(common_name), ca_key, ca_name, now)
    key_pem = signer_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    _write_new(paths.key, key_pem, 0o600)
    _write_new(paths.chain, leaf.public_bytes(serialization.Encoding.PEM) + ca_pem, 0o644)
    _write_new(paths.ca, ca_pem, 0o644)
    return paths


def load_signer(
    folder: str | os.PathLike | None = None,
    *,
    chain: str | os.PathLike | None = None,
    key: str | os.PathLike | None = None,
    ca: str | os.PathLike | None = None,
) -> PhotoSigner:
    """Loads and checks a signing identity: a key folder, or the chain and key files themselves.

    Args:
        folder: a folder written by `init_keys`; `chain`, `key` and `ca` override its files.
        chain: the signing certificate, then its issuers (PEM).
        key: the signing certificate's private key (unencrypted PEM).
        ca: the trust anchor; optional (only verification needs it).

    Returns:
        A signer for `sign_photo`.

    Raises:
        UserError: a file is missing or unreadable, the key does not match the certificate, the
            certificate is not valid now or is not issued by the next one in the chain.
    """
    defaults = key_paths(folder) if folder is not None else None
    chain_path = Path(chain) if chain else (defaults.chain if defaults else None)
    key_path = Path(key) if key else (defaults.key if defaults else None)
    ca_path = Path(ca) if ca else (defaults.ca if defaults and defaults.ca.exists() else None)
    if chain_path is None or key_path is None:
        raise UserError("load_signer needs a key folder, or both a certificate chain and a key")
    certs = _read_chain(chain_path)
    private_key = _read_key(key_path)
    leaf = certs[0]
    if private_key.public_key() != leaf.public_key():
        raise UserError(f"the private key {key_path} does not match the certificate {chain_path}")
    _check_validity(leaf, chain_path)
    _check_issued(certs, chain_path)
    ca_pem = _read(ca_path, "CA certificate") if ca_path else None
    return PhotoSigner(_read(chain_path, "certificate chain"), _read(key_path, "key"), ca_pem, leaf)


def _now() -> dt.datetime:
    """The current UTC time (a function, so tests can move the clock)."""
    return dt.datetime.now(dt.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "idphoto"),
        ]
    )


def _key_usage(*, digital_signature: bool, key_cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=key_cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _ca_certificate(
    key: ec.EllipticCurvePrivateKey, name: x509.Name, now: dt.datetime
) -> x509.Certificate:
    """A self-signed CA that may issue end-entity certificates only (path length 0)."""
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + dt.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(digital_signature=False, key_cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _leaf_certificate(
    public_key: ec.EllipticCurvePublicKey,
    name: x509.Name,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_name: x509.Name,
    now: dt.datetime,
) -> x509.Certificate:
    """The claim-signing certificate: not a CA, digitalSignature, the C2PA signing EKUs."""
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + dt.timedelta(days=_LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, key_cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(_SIGNING_EKUS)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Writes a file created with `mode` from the start, so a key is never readable by others.

    An existing file is removed first: O_CREAT applies `mode` only to a file it creates.
    """
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"no signing {what} at {path}") from None
    except OSError as err:
        raise UserError(f"cannot read the signing {what} {path}: {err.strerror}") from None


def _read_chain(path: Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(_read(path, "certificate chain"))
    except ValueError:
        raise UserError(f"{path} is not a PEM certificate chain") from None


def _read_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The ES256 private key at `path`; errors never quote the file (it is a secret)."""
    try:
        key = serialization.load_pem_private_key(_read(path, "key"), password=None)
    except (ValueError, TypeError):
        raise UserError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise UserError(f"{path} is not a P-256 (ES256) key")
    return key


def _check_validity(leaf: x509.Certificate, path: Path) -> None:
    now, start, end = _now(), leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if now > end:
        raise UserError(f"the signing certificate {path} expired on {end:%Y-%m-%d}")
    if now < start:
        raise UserError(f"the signing certificate {path} is not valid before {start:%Y-%m-%d}")


def _check_issued(certs: list[x509.Certificate], path: Path) -> None:
    """Each certificate must be signed by the next: the SDK refuses a lone self-signed one."""
    if len(certs) < 2:
        raise UserError(f"{path} holds no issuer certificate; C2PA needs the signer then its CA")
    for child, parent in zip(certs, certs[1:], strict=False):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            raise UserError(
                f"{path}: {child.subject.rfc4514_string()} is not issued by the next certificate"
            ) from None
