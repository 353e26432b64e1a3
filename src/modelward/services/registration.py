"""Register a (signed) model package in the catalog: the one place artifacts and catalog meet.

``register_package`` reads the package's manifest (verifying its signature and every file digest
when a keyring is given), then records the model, the version, its datasets and code in the catalog.
The same version again with the same package bytes is a no-op; with other bytes, ``Conflict``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from modelward import catalog as c
from modelward.artifacts import Keyring, Manifest, load_verified, read_manifest
from modelward.errors import CatalogError, PackageFormatError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Registration:
    """What ``register_package`` did."""

    version: c.VersionView
    created: bool
    verified: bool


@dataclass(frozen=True)
class ModelDetails:
    """Model attributes a package's manifest does not carry (given on the command line or by a caller)."""

    display_name: str = ""
    description: str = ""
    model_type: str = ""
    line_of_business: str = ""
    project: str = ""
    tags: tuple[str, ...] = ()
    readme: str = ""
    owner: str = ""


def package_digest(path: Path) -> str:
    """``sha256:<hex>`` of a package file's bytes (for a folder: of its canonical manifest)."""
    if path.is_dir():
        return "sha256:" + hashlib.sha256(read_manifest(path).canonical_bytes()).hexdigest()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def _read(path: Path, keyring: Keyring | None, allow_unsigned: bool) -> tuple[Manifest, str, str, bool]:
    if keyring is None:
        logger.warning("registering %s without a keyring: its signature is NOT checked", path)
        manifest = read_manifest(path)
        return manifest, "", "sha256:" + hashlib.sha256(manifest.canonical_bytes()).hexdigest(), False
    package = load_verified(path, keyring, allow_unsigned=allow_unsigned)
    try:
        return package.manifest, package.key_id or "", package.manifest_digest or "", package.key_id is not None
    finally:
        package.close()


def version_info(manifest: Manifest, *, artifact_uri: str, artifact_digest: str, key_id: str,
                 manifest_digest: str, registry_url: str = "", version: str | None = None) -> c.VersionInfo:
    """The catalog's version record for a manifest (``version`` defaults to the manifest's)."""
    training = manifest.training
    with recordable("version"):
        return c.VersionInfo(
            version=version or manifest.model.version, artifact_uri=artifact_uri, artifact_digest=artifact_digest,
            manifest=manifest.model_dump(mode="json"), manifest_digest=manifest_digest, signing_key_id=key_id,
            datasets=tuple(c.DatasetRef(name=d.name, uri=d.uri, digest=d.digest or "") for d in training.datasets),
            code_repository=training.code.repository, code_commit=training.code.commit,
            metrics=dict(training.metrics), registry_url=registry_url,
        )


@contextmanager
def recordable(what: str) -> Iterator[None]:
    """Turn the catalog refusing a manifest's values (a version with '/', a bad name) into one clear error."""
    try:
        yield
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(part) for part in error['loc'])}: "
                             f"{error['msg'].removeprefix('Value error, ')}" for error in exc.errors())
        raise CatalogError(f"the package's {what} cannot be recorded in the catalog: {problems}") from None


def register_package(catalog: c.Catalog, source: Path | str, *, actor: str, keyring: Keyring | None = None,
                     details: ModelDetails | None = None, artifact_uri: str | None = None,
                     registry_url: str = "", allow_unsigned: bool = False) -> Registration:
    """Record the package at ``source`` (a local ``.zip`` or folder) in ``catalog``."""
    path = Path(str(source).removeprefix("file://")).expanduser()
    if not path.exists():
        raise PackageFormatError(f"{path}: no such package")
    manifest, key_id, manifest_digest, verified = _read(path, keyring, allow_unsigned)
    extra = details or ModelDetails()
    with recordable("model"):
        model = c.ModelInfo(qualified_name=manifest.model.qualified_name, display_name=extra.display_name,
                            description=extra.description, model_type=extra.model_type,
                            owner=extra.owner or manifest.training.owner, line_of_business=extra.line_of_business,
                            project=extra.project, tags=extra.tags, readme=extra.readme)
    version = version_info(manifest, artifact_uri=artifact_uri or path.resolve().as_uri(),
                           artifact_digest=package_digest(path), key_id=key_id,
                           manifest_digest=manifest_digest, registry_url=registry_url)
    view, created = c.register_version(catalog, model=model, version=version, actor=actor)
    return Registration(version=view, created=created, verified=verified)
