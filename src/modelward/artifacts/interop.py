"""Interoperability: the article's legacy artifacts and OpenSSF model-signing signatures.

* Legacy: a zip holding ``signed_model.pkl`` = pickle bytes + ``.`` + itsdangerous ``Signer``
  signature (HMAC-SHA1, key derived "django-concat", salt ``itsdangerous.Signer``). Verified with a
  streaming HMAC and an exact comparison of the encoded signature (no byte-level variants), then
  exposed as the member ``model.pkl`` of a ``VerifiedPackage``; the other files of such a zip are not
  signed and are not exposed.
* OpenSSF model-signing: a folder with ``model.sig`` (a Sigstore bundle signed by an elliptic-curve
  key). The signature is verified by the ``model-signing`` library with the keyring's matching
  ``ecdsa-p256`` key; the files are then hashed by modelward against the signed digests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import tempfile
from pathlib import Path
from typing import Any

from modelward.artifacts.digests import hash_stream
from modelward.artifacts.keys import Keyring, TrustedKey, load_signer
from modelward.artifacts.manifest import FileEntry, FileFormat, Manifest, ModelRef, utc_now
from modelward.artifacts.signature import naming
from modelward.artifacts.sources import DirectorySource, Source, reading
from modelward.artifacts.stores import remove_tree
from modelward.errors import (
    ConfigurationError,
    ManifestMismatch,
    PackageFormatError,
    SignatureInvalid,
    UnknownKey,
)

LEGACY_MEMBER = "signed_model.pkl"
LEGACY_PAYLOAD = "model.pkl"
OPENSSF_SIGNATURE = "model.sig"
_LEGACY_SIG_CHARS = 27  # base64url of a 20-byte HMAC-SHA1, without padding
_FORMATS: dict[str, FileFormat] = {".pkl": "pickle", ".pickle": "pickle", ".joblib": "joblib", ".skops": "skops"}


def verify_foreign(source: Source, path: Path, keyring: Keyring, legacy_secret: str | None,
                   limit: int) -> Any:
    """Verify a package that has no modelward manifest: legacy zip or OpenSSF folder."""
    names = set(source.names())
    if OPENSSF_SIGNATURE in names and isinstance(source, DirectorySource):
        source.close()
        return verify_openssf(path, keyring, max_expansion_bytes=limit)
    if LEGACY_MEMBER in names:
        if not legacy_secret:
            raise SignatureInvalid(f"{source.location}: is a legacy itsdangerous-signed artifact; set "
                                   "MODELWARD_LEGACY_HMAC_SECRET to read it")
        try:
            return read_legacy_zip(source, legacy_secret)
        finally:
            source.close()
    raise PackageFormatError(f"{source.location}: has no manifest.json, model.sig or signed_model.pkl "
                             "(not a package modelward can verify)")


def _legacy_key(secret: str) -> bytes:
    return hashlib.sha1(b"itsdangerous.Signer" + b"signer" + secret.encode("utf-8")).digest()


def read_legacy_zip(source: Source, secret: str) -> Any:
    """Verify ``signed_model.pkl`` of a legacy zip and expose its payload as ``model.pkl``."""
    from modelward.artifacts.loader import VerifiedPackage

    size = source.declared_size(LEGACY_MEMBER)
    where = f"{source.location}!{LEGACY_MEMBER}"
    if size <= _LEGACY_SIG_CHARS + 1:
        raise SignatureInvalid(f"{where}: too short to hold a signature")
    scratch = Path(tempfile.mkdtemp(prefix="modelward-legacy-"))
    try:
        mac = hmac.new(_legacy_key(secret), digestmod=hashlib.sha1)
        with reading(source, LEGACY_MEMBER) as stream, (scratch / LEGACY_PAYLOAD).open("wb") as sink:
            tee: Any = _Tee(stream, mac)
            digest, count = hash_stream(tee, limit=size - _LEGACY_SIG_CHARS - 1, sink=sink,
                                        overread=False)
            trailer = stream.read(_LEGACY_SIG_CHARS + 2)
        expected = b"." + base64.urlsafe_b64encode(mac.digest()).rstrip(b"=")
        if count != size - _LEGACY_SIG_CHARS - 1 or not hmac.compare_digest(trailer, expected):
            raise SignatureInvalid(f"{where}: the itsdangerous signature does not match (wrong secret, "
                                   "changed bytes or appended bytes)")
        manifest = Manifest(model=ModelRef(qualified_name=Path(source.location).stem, version="legacy"),
                            created=utc_now(), files=(FileEntry(path=LEGACY_PAYLOAD, size=count, digest=digest,
                                                                format="pickle"),))
        return VerifiedPackage(manifest=manifest, key_id="legacy-itsdangerous-hmac-sha1", signed_at=None,
                               manifest_digest=None, location=source.location, scheme="legacy-itsdangerous",
                               _source=DirectorySource(scratch, size), _extra_dirs=[scratch])
    except BaseException:
        remove_tree(scratch)
        raise


class _Tee:
    """A reader that feeds every byte it returns into an HMAC."""

    def __init__(self, stream: Any, mac: Any) -> None:
        self._stream = stream
        self._mac = mac

    def readinto(self, buffer: memoryview) -> int:
        count = int(self._stream.readinto(buffer))
        self._mac.update(buffer[:count])
        return count


# --- OpenSSF model-signing ------------------------------------------------------------------------


def _key_hint(key: TrustedKey) -> str:
    from cryptography.hazmat.primitives import serialization

    pem = key.load_public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


def _openssf_key(hint: str, keyring: Keyring, where: str) -> TrustedKey:
    for key in keyring:
        if key.algorithm == "ecdsa-p256" and _key_hint(key) == hint:
            return key
    raise UnknownKey(f"{where}: signed by a key (hint {hint[:16]}...) that is not an ecdsa-p256 key of the "
                     f"keyring {keyring.source or ''}")


def sign_openssf(folder: Path | str, private_key: Path | str) -> Path:
    """Sign ``folder`` with OpenSSF model-signing and an EC private key; write ``folder/model.sig``."""
    from model_signing import hashing, signing

    folder = Path(folder)
    if not folder.is_dir():
        raise PackageFormatError(f"{folder}: is not a folder (OpenSSF model-signing signs a folder of model "
                                 "files)")
    signer = load_signer(private_key)
    if signer.algorithm != "ecdsa-p256":
        raise ConfigurationError(f"signing key {private_key}: OpenSSF model-signing needs an ecdsa-p256 key, "
                                 f"this one is {signer.algorithm} (`modelward keys generate --algorithm ecdsa-p256`)")
    signature = folder / OPENSSF_SIGNATURE
    config = hashing.Config().set_ignored_paths(paths=[OPENSSF_SIGNATURE])  # type: ignore[no-untyped-call]
    try:
        config_signing: Any = signing.Config()  # type: ignore[no-untyped-call]
        config_signing.use_elliptic_key_signer(private_key=Path(private_key)).set_hashing_config(
            config).sign(folder, signature)
    except (ValueError, OSError) as exc:
        raise PackageFormatError(f"{folder}: model-signing failed: {exc}") from None
    return signature


def verify_openssf(folder: Path | str, keyring: Keyring, *, max_expansion_bytes: int = 8 * 1024**3) -> Any:
    """Verify a folder signed by OpenSSF model-signing with an ecdsa-p256 key of ``keyring``."""
    from model_signing._signing import sign_ec_key, sign_sigstore_pb

    from modelward.artifacts.loader import VerifiedPackage

    folder = Path(folder)
    where = str(folder / OPENSSF_SIGNATURE)
    try:
        signature = sign_sigstore_pb.Signature.read(folder / OPENSSF_SIGNATURE)
        hint = str(signature.bundle.verification_material.public_key.hint)  # type: ignore[union-attr]
    except Exception as exc:
        raise SignatureInvalid(f"{where}: not a readable model-signing bundle: {exc}") from None
    key = _openssf_key(hint, keyring, where)
    now = utc_now()
    with naming(where):
        key.check_valid_at(now, now)
    expected = _verify_bundle(sign_ec_key, signature, key, where)
    source = DirectorySource(folder, max_expansion_bytes)
    try:
        manifest = _openssf_manifest(expected, source, where)
        _hash_all(source, manifest)
    except BaseException:
        source.close()
        raise
    return VerifiedPackage(manifest=manifest, key_id=key.key_id, signed_at=None, manifest_digest=None,
                           location=str(folder), scheme="openssf-model-signing", _source=source)


def _verify_bundle(sign_ec_key: Any, signature: Any, key: TrustedKey, where: str) -> Any:
    scratch = Path(tempfile.mkdtemp(prefix="modelward-openssf-"))
    try:
        pem = scratch / "key.pem"
        pem.write_text(key.public_key or "", encoding="ascii")
        return sign_ec_key.Verifier(pem).verify(signature)
    except Exception as exc:
        raise SignatureInvalid(f"{where}: model-signing signature by key '{key.key_id}' does not verify: "
                               f"{exc}") from None
    finally:
        remove_tree(scratch)


def _openssf_manifest(expected: Any, source: DirectorySource, where: str) -> Manifest:
    kind = dict(expected.serialization_type)
    if kind.get("method") != "files" or kind.get("hash_type") != "sha256":
        raise PackageFormatError(f"{where}: signed with {kind}; modelward reads file-level sha256 manifests")
    entries = []
    for descriptor in expected.resource_descriptors():
        name = str(descriptor.identifier)
        if name not in source.names():
            raise ManifestMismatch(f"{source.location}: '{name}' is signed but missing")
        entries.append(FileEntry(path=name, size=source.declared_size(name),
                                 digest=f"sha256:{descriptor.digest.digest_value.hex()}",
                                 format=_FORMATS.get(Path(name).suffix.lower(), "data")))
    signed = {e.path for e in entries} | {OPENSSF_SIGNATURE}
    extra = sorted(n for n in source.names() if n not in signed and not n.startswith(".git"))
    if extra:
        raise ManifestMismatch(f"{source.location}: file(s) not covered by the signature: {', '.join(extra)}")
    known = "validation.jsonl" if "validation.jsonl" in signed else None
    return Manifest(model=ModelRef(qualified_name=str(expected.model_name or source.root.name),
                                   version="unversioned"),
                    created=utc_now(), files=tuple(entries), known_cases=known)


def _hash_all(source: DirectorySource, manifest: Manifest) -> None:
    from modelward.artifacts.loader import _compare

    for entry in manifest.files:
        with reading(source, entry.path) as stream:
            digest, size = hash_stream(stream, limit=entry.size)
        _compare(entry, digest, size, source.location)
