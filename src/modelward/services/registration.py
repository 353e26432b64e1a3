"""Register a (signed) model package in the catalog: the one place artifacts and catalog meet.

``register_package`` reads the package's manifest (verifying its signature and every file digest
when a keyring is given), copies the package into the artifact store under its content address
(``sha256/<hex>.zip``), then records the model, the version (with that store location, its owner
and line of business), its datasets and code in the catalog. The same version again with the same
package bytes is a no-op; with other bytes, ``Conflict``.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from modelward import catalog as c
from modelward.artifacts import (
    MANIFEST_NAME,
    SIGNATURE_NAME,
    ArtifactStore,
    Keyring,
    LocalStore,
    Manifest,
    load_verified,
    read_manifest,
)
from modelward.errors import CatalogError, ModelwardError, NotFound, PackageFormatError

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
    """``sha256:<hex>`` of a package file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def registry_key(digest: str) -> str:
    """Content address of a package in the registry store."""
    return f"sha256/{digest.removeprefix('sha256:')}.zip"


def store_package(catalog: c.Catalog, store: ArtifactStore, staged: Path, *, digest: str, name: str,
                  version: str) -> str:
    """Where ``name@version`` (the package file ``staged``, of ``digest``) is kept: its store copy's URI.

    A version the catalog already holds keeps the location it was registered with (registering it
    again is then a no-op, or a ``Conflict`` for other bytes, and nothing is copied); else the
    package is copied into ``store`` under its content address (once per digest).
    """
    try:
        return c.get_version(catalog, name=name, version=version).artifact_uri
    except NotFound:
        pass
    key = registry_key(digest)
    if store.exists(key):
        return _uri_of(store, key)
    return store.put(staged, key)


def _uri_of(store: ArtifactStore, key: str) -> str:
    """The URI ``store.put`` returns for ``key`` (without copying again)."""
    if isinstance(store, LocalStore):
        return (store.root / key).resolve().as_uri()
    return f"{store.url.rstrip('/')}/{key}"


def _stage(path: Path, target: Path) -> None:
    """The package as one ``.zip`` file at ``target``: a copy of a zip, or a folder zipped member by member."""
    if not path.is_dir():
        shutil.copyfile(path, target)
        return
    manifest = read_manifest(path)
    names = [MANIFEST_NAME, *(e.path for e in manifest.files),
             *([SIGNATURE_NAME] if (path / SIGNATURE_NAME).is_file() else [])]
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in names:  # fixed times and order: the same folder is always the same bytes (one digest)
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (path / name).read_bytes())


def _read(path: Path, keyring: Keyring | None, allow_unsigned: bool,
          shown: Path) -> tuple[Manifest, str, str, bool]:
    try:
        return _read_staged(path, keyring, allow_unsigned, shown)
    except ModelwardError as exc:  # name the package the user gave, not its private copy
        exc.message = exc.message.replace(str(path), str(shown))
        exc.args = (exc.message,)
        raise


def _read_staged(path: Path, keyring: Keyring | None, allow_unsigned: bool,
                 shown: Path) -> tuple[Manifest, str, str, bool]:
    if keyring is None:
        logger.warning("registering %s without a keyring: its signature is NOT checked", shown)
        manifest = read_manifest(path)
        return manifest, "", "sha256:" + hashlib.sha256(manifest.canonical_bytes()).hexdigest(), False
    package = load_verified(path, keyring, allow_unsigned=allow_unsigned)
    try:
        return package.manifest, package.key_id or "", package.manifest_digest or "", package.key_id is not None
    finally:
        package.close()


def version_info(manifest: Manifest, *, artifact_uri: str, artifact_digest: str, key_id: str,
                 manifest_digest: str, registry_url: str = "", version: str | None = None,
                 owner: str | None = None, line_of_business: str = "") -> c.VersionInfo:
    """The catalog's version record for a manifest (``version`` and ``owner`` default to the manifest's)."""
    training = manifest.training
    with recordable("version"):
        return c.VersionInfo(
            version=version or manifest.model.version, artifact_uri=artifact_uri, artifact_digest=artifact_digest,
            manifest=manifest.model_dump(mode="json"), manifest_digest=manifest_digest, signing_key_id=key_id,
            datasets=tuple(c.DatasetRef(name=d.name, uri=d.uri, digest=d.digest or "") for d in training.datasets),
            code_repository=training.code.repository, code_commit=training.code.commit,
            metrics=dict(training.metrics), registry_url=registry_url,
            owner=training.owner if owner is None else owner, line_of_business=line_of_business,
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


def register_package(catalog: c.Catalog, source: Path | str, *, actor: str, store: ArtifactStore,
                     keyring: Keyring | None = None, details: ModelDetails | None = None,
                     registry_url: str = "", allow_unsigned: bool = False) -> Registration:
    """Record the package at ``source`` (a local ``.zip`` or folder) in ``catalog``.

    The bytes that are verified are the bytes that are digested and copied into ``store`` under
    their content address (a folder is zipped first); the version records that copy's URI, never
    the path given. A package refused (bad signature, unknown key, a conflicting version) leaves
    neither a catalog row nor a store object.
    """
    path = Path(str(source).removeprefix("file://")).expanduser()
    if not path.exists():
        raise PackageFormatError(f"{path}: no such package")
    with tempfile.TemporaryDirectory(prefix="modelward-register-") as private:
        staged = Path(private) / "package.zip"
        _stage(path, staged)
        manifest, key_id, manifest_digest, verified = _read(staged, keyring, allow_unsigned, path)
        extra = details or ModelDetails()
        with recordable("model"):
            model = c.ModelInfo(qualified_name=manifest.model.qualified_name, display_name=extra.display_name,
                                description=extra.description, model_type=extra.model_type,
                                owner=extra.owner or manifest.training.owner,
                                line_of_business=extra.line_of_business, project=extra.project, tags=extra.tags,
                                readme=extra.readme)
        digest = package_digest(staged)
        version_info(manifest, artifact_uri="", artifact_digest=digest, key_id=key_id,
                     manifest_digest=manifest_digest)  # refuse what the catalog cannot hold before storing
        uri = store_package(catalog, store, staged, digest=digest, name=model.qualified_name,
                            version=manifest.model.version)
        version = version_info(manifest, artifact_uri=uri, artifact_digest=digest, key_id=key_id,
                               manifest_digest=manifest_digest, registry_url=registry_url,
                               owner=model.owner, line_of_business=model.line_of_business)
        view, created = c.register_version(catalog, model=model, version=version, actor=actor)
    return Registration(version=view, created=created, verified=verified)
