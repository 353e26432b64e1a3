"""modelward.artifacts: signed model packages, verified before anything is deserialized.

The public API (see ``docs/artifacts.md``)::

    build_package(folder, output, qualified_name=..., version=..., training=Training(...), signer=None)
    sign_package(package, signer) -> Signature
    load_verified(uri, keyring, max_expansion_bytes=..., legacy_secret=None, endpoint_url=None)
        -> VerifiedPackage (.manifest .key_id .signed_at .manifest_digest
                            .load(name) .read_bytes(name) .path(name) .known_cases() .close())
    read_manifest(uri) -> Manifest            (unverified, for display)
    load_parameters(qualified_name=..., package=uri, keyring=path)   (what a model's __init__ calls)
    open_store(url, endpoint_url=...) -> ArtifactStore (put/get/exists/list/size)
    Keyring.load(path); generate_key(private_dir, keyring=...); load_signer(private_key_path)

Known cases travel inside the package as ``validation.jsonl`` at its root.
"""

from modelward.artifacts.digests import Digest, hash_file, hash_stream
from modelward.artifacts.interop import (
    read_legacy_zip,
    sign_openssf,
    verify_openssf,
)
from modelward.artifacts.keys import (
    AsymmetricSigner,
    GeneratedKey,
    HmacSigner,
    Keyring,
    Signer,
    TrustedKey,
    generate_key,
    load_signer,
)
from modelward.artifacts.loader import VerifiedPackage, load_verified, verify_source
from modelward.artifacts.manifest import (
    KNOWN_CASES_NAME,
    MANIFEST_NAME,
    SIGNATURE_NAME,
    CodeRef,
    DatasetRef,
    FileEntry,
    Manifest,
    ModelRef,
    Training,
    parse_manifest,
)
from modelward.artifacts.package import build_package, make_manifest, read_manifest, read_signature, sign_package
from modelward.artifacts.parameters import load_parameters
from modelward.artifacts.signature import Signature, sign_manifest, verify_signature
from modelward.artifacts.stores import ArtifactStore, LocalStore, S3Store, open_store

__all__ = [
    "KNOWN_CASES_NAME",
    "MANIFEST_NAME",
    "SIGNATURE_NAME",
    "ArtifactStore",
    "AsymmetricSigner",
    "CodeRef",
    "DatasetRef",
    "Digest",
    "FileEntry",
    "GeneratedKey",
    "HmacSigner",
    "Keyring",
    "LocalStore",
    "Manifest",
    "ModelRef",
    "S3Store",
    "Signature",
    "Signer",
    "Training",
    "TrustedKey",
    "VerifiedPackage",
    "build_package",
    "generate_key",
    "hash_file",
    "hash_stream",
    "load_parameters",
    "load_signer",
    "load_verified",
    "make_manifest",
    "open_store",
    "parse_manifest",
    "read_legacy_zip",
    "read_manifest",
    "read_signature",
    "sign_manifest",
    "sign_openssf",
    "sign_package",
    "verify_openssf",
    "verify_signature",
    "verify_source",
]
