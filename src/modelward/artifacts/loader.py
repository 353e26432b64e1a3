"""``load_verified``: check a package completely before a single byte is deserialized."""

from __future__ import annotations

import io
import json
import logging
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from modelward.artifacts.catalogue import GlobalPolicy, parse_pair, vet_extensions
from modelward.artifacts.digests import Progress, hash_stream
from modelward.artifacts.keys import Keyring
from modelward.artifacts.manifest import (
    MANIFEST_NAME,
    RESERVED_NAMES,
    SIGNATURE_NAME,
    FileEntry,
    Manifest,
    parse_manifest,
)
from modelward.artifacts.pickles import safe_joblib_loads, safe_pickle_loads, safe_skops_loads, skops_pair
from modelward.artifacts.signature import parse_signature, verify_signature
from modelward.artifacts.sources import Source, open_source, reading
from modelward.artifacts.stores import open_store, remove_tree, split_object_uri
from modelward.errors import ManifestMismatch, PackageFormatError, SignatureInvalid, UnsafeArchive

logger = logging.getLogger(__name__)
DEFAULT_MAX_EXPANSION = 8 * 1024**3
MANIFEST_LIMIT = 16 * 1024 * 1024
SIGNATURE_LIMIT = 64 * 1024


@dataclass
class VerifiedPackage:
    """A package whose signature and every file digest checked out.

    Member reads re-check the digest (so a file changed after verification is refused too).
    Use as a context manager, or call ``close()``, to release temporary copies.
    """

    manifest: Manifest
    key_id: str | None
    signed_at: datetime | None
    manifest_digest: str | None
    location: str
    scheme: str = "modelward"
    operator_allow: tuple[str, ...] = ()
    _source: Source | None = field(default=None, repr=False)
    _scratch: Path | None = field(default=None, repr=False)
    _extra_dirs: list[Path] = field(default_factory=list, repr=False)

    def __enter__(self) -> VerifiedPackage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the container and delete temporary copies."""
        if self._source is not None:
            self._source.close()
        for folder in [self._scratch, *self._extra_dirs]:
            if folder is not None:
                remove_tree(folder)

    def entry(self, name: str) -> FileEntry:
        """The manifest entry of ``name``; ``ManifestMismatch`` if the package has no such file."""
        try:
            return self.manifest.file(name)
        except KeyError:
            raise ManifestMismatch(f"{self.location}: the manifest lists no file '{name}'") from None

    def read_bytes(self, name: str) -> bytes:
        """A member's bytes, re-hashed against the manifest while being read."""
        entry = self.entry(name)
        sink = io.BytesIO()
        assert self._source is not None
        with reading(self._source, name) as stream:
            digest, size = hash_stream(stream, limit=entry.size, sink=sink)
        _compare(entry, digest, size, self.location)
        return sink.getvalue()

    def path(self, name: str) -> Path:
        """A private local copy of a member, verified while it was written (for libraries that want paths)."""
        entry = self.entry(name)
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="modelward-verified-"))
        target = self._scratch / name
        target.parent.mkdir(parents=True, exist_ok=True)
        assert self._source is not None
        with reading(self._source, name) as stream, target.open("wb") as sink:
            digest, size = hash_stream(stream, limit=entry.size, sink=sink)
        _compare(entry, digest, size, self.location)
        target.chmod(0o400)
        return target

    def load(self, name: str, *, allow_globals: Iterable[str] = ()) -> Any:
        """Deserialize a pickle, joblib or skops member resolving only its recorded, vetted globals.

        ``allow_globals`` (``module:qualname``) adds names the caller expects (a legacy pickle records
        none); they too must be vetted by the catalogue or an explicit extension.
        """
        entry = self.entry(name)
        where = f"{self.location}!{name}"
        data = self.read_bytes(name)
        policy = self.policy(entry, allow_globals)
        if entry.format == "skops":
            return safe_skops_loads(data, entry.trusted_types, policy, where)
        if entry.format == "joblib":
            return safe_joblib_loads(data, policy, where)
        if entry.format == "pickle":
            return safe_pickle_loads(data, policy, where)
        raise PackageFormatError(f"{where}: is a data file, not a pickle, joblib or skops file")

    def extensions(self) -> tuple[str, ...]:
        """The explicit allowances beyond the catalogue: the signed manifest's, then the operator's."""
        return tuple(dict.fromkeys((*self.manifest.allow_globals, *self.operator_allow)))

    def policy(self, entry: FileEntry, allow_globals: Iterable[str] = ()) -> GlobalPolicy:
        """What ``entry`` may import: its recorded globals (and ``allow_globals``), vetted."""
        where = f"{self.location}!{entry.path}"
        recorded = {*self.manifest.recorded_globals(entry), *(parse_pair(t, where) for t in allow_globals)}
        return GlobalPolicy(recorded=frozenset(recorded), extensions=vet_extensions(self.extensions(), where))

    def check_globals(self) -> None:
        """Refuse, by name, any recorded global or skops type that is not vetted (imports only vetted modules)."""
        for entry in self.manifest.files:
            where = f"{self.location}!{entry.path}"
            policy = self.policy(entry)
            pairs = [skops_pair(t) for t in entry.trusted_types] if entry.format == "skops" else policy.recorded
            for module, name in sorted(pairs):
                policy.check(module, name, where, recorded_only=False)

    def known_cases(self) -> list[dict[str, Any]]:
        """The known cases (``validation.jsonl`` at the package root), one dict per line."""
        if self.manifest.known_cases is None:
            return []
        where = f"{self.location}!{self.manifest.known_cases}"
        try:
            lines = self.read_bytes(self.manifest.known_cases).decode("utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise PackageFormatError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        cases = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                case = json.loads(line)
            except ValueError as exc:
                raise PackageFormatError(f"{where}: line {number}: {exc}") from None
            if not isinstance(case, dict):
                raise PackageFormatError(f"{where}: line {number}: a known case is a JSON object, "
                                         f"not {type(case).__name__}")
            cases.append(case)
        return cases


def _compare(entry: FileEntry, digest: str, size: int, location: str) -> None:
    if size != entry.size:
        actual = str(size) if size <= entry.size else f"more than {entry.size}"
        raise ManifestMismatch(f"{location}: '{entry.path}' has {actual} bytes, the manifest says {entry.size}")
    if digest != entry.digest:
        raise ManifestMismatch(f"{location}: '{entry.path}' digest {digest} differs from the manifest's {entry.digest}")


def _read_small(source: Source, name: str, limit: int) -> bytes:
    if source.declared_size(name) > limit:
        raise PackageFormatError(f"{source.location}: {name} declares {source.declared_size(name)} bytes "
                                 f"(limit {limit})")
    with reading(source, name) as stream:
        data = stream.read(limit + 1)
    if len(data) != source.declared_size(name):
        raise ManifestMismatch(f"{source.location}: {name} holds {len(data)} bytes, declared "
                               f"{source.declared_size(name)}")
    return data


def _check_files(source: Source, manifest: Manifest, progress: Progress | None) -> None:
    present = {n for n in source.names() if n not in RESERVED_NAMES}
    listed = {entry.path for entry in manifest.files}
    if present - listed:
        raise ManifestMismatch(f"{source.location}: file(s) not in the manifest: {', '.join(sorted(present - listed))}")
    if listed - present:
        raise ManifestMismatch(f"{source.location}: file(s) in the manifest are missing: "
                               f"{', '.join(sorted(listed - present))}")
    for entry in manifest.files:
        if source.declared_size(entry.path) != entry.size:
            raise ManifestMismatch(f"{source.location}: '{entry.path}' is {source.declared_size(entry.path)} "
                                   f"bytes, the manifest says {entry.size}")
    for entry in manifest.files:
        with reading(source, entry.path) as stream:
            digest, size = hash_stream(stream, limit=entry.size, progress=progress)
        if size != entry.size:
            raise UnsafeArchive(f"{source.location}: entry '{entry.path}' declares {entry.size} bytes but "
                                f"holds {'more' if size > entry.size else size} (declared size lies)")
        _compare(entry, digest, size, source.location)


def verify_source(source: Source, keyring: Keyring, *, allow_unsigned: bool = False,
                  progress: Progress | None = None, allow_globals: Iterable[str] = ()) -> VerifiedPackage:
    """Verify an opened source: signature over the manifest, every file, every recorded pickle global.

    ``allow_globals``: the operator's explicit allowances beyond the catalogue (``module:qualname``).
    """
    names = set(source.names())
    if MANIFEST_NAME not in names:
        raise PackageFormatError(f"{source.location}: has no {MANIFEST_NAME} (not a modelward package)")
    manifest_bytes = _read_small(source, MANIFEST_NAME, MANIFEST_LIMIT)
    key_id = signed_at = manifest_digest = None
    if SIGNATURE_NAME in names:
        signature = parse_signature(_read_small(source, SIGNATURE_NAME, SIGNATURE_LIMIT),
                                    f"{source.location}!{SIGNATURE_NAME}")
        verify_signature(manifest_bytes, signature, keyring, f"{source.location}!{SIGNATURE_NAME}")
        key_id, signed_at, manifest_digest = signature.key_id, signature.signed_at, signature.manifest_digest
    elif allow_unsigned:
        logger.warning("LOADING AN UNSIGNED PACKAGE %s (allow_unsigned is set): its origin is not checked",
                       source.location)
    else:
        raise SignatureInvalid(f"{source.location}: is not signed (no {SIGNATURE_NAME}); refusing to load it")
    manifest = parse_manifest(manifest_bytes, f"{source.location}!{MANIFEST_NAME}")
    _check_files(source, manifest, progress)
    package = VerifiedPackage(manifest=manifest, key_id=key_id, signed_at=signed_at,
                              manifest_digest=manifest_digest, location=source.location,
                              operator_allow=tuple(allow_globals), _source=source)
    package.check_globals()
    return package


def fetch(uri: str, cache_dir: Path | None = None, *, endpoint_url: str | None = None,
          progress: Progress | None = None) -> tuple[Path, Path | None]:
    """A local path for ``uri`` (a path, ``file://``, or ``s3://`` downloaded to a private folder).

    Returns the path and the temporary folder to delete afterwards (None for local packages).
    """
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path) if parsed.scheme else uri), None
    store_url, key = split_object_uri(uri)
    store = open_store(store_url, endpoint_url=endpoint_url)
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="modelward-fetch-", dir=cache_dir))
    try:
        return store.get(key, scratch / key, progress=progress), scratch
    except BaseException:
        remove_tree(scratch)
        raise


def load_verified(uri: str | Path, keyring: Keyring, *, max_expansion_bytes: int = DEFAULT_MAX_EXPANSION,
                  allow_unsigned: bool = False, legacy_secret: str | None = None,
                  endpoint_url: str | None = None, cache_dir: Path | None = None,
                  progress: Progress | None = None, allow_globals: Iterable[str] | None = None) -> VerifiedPackage:
    """Fetch, check and verify a package; nothing in it is deserialized until you call ``load``.

    ``uri``: a local ``.zip`` or directory, ``file://...`` or ``s3://bucket/key.zip``. Also reads
    the article's legacy zip (``signed_model.pkl``, itsdangerous) when ``legacy_secret`` is given, and
    folders signed with OpenSSF model-signing (``model.sig``) by an ECDSA key of the keyring.
    Raises ``SignatureInvalid``, ``UnknownKey``, ``KeyRevoked``, ``KeyExpired``, ``ManifestMismatch``,
    ``UnsafeArchive``, ``UnsafePickle``, ``PackageFormatError`` or ``StoreError`` naming the file and
    the reason. Every pickle global the manifest records must be vetted by the catalogue or by an
    explicit allowance: the manifest's ``allow_globals`` or ``allow_globals`` here (default: the
    operator's ``MODELWARD_PICKLE_ALLOW``).
    """
    if allow_globals is None:
        from modelward.settings import load_settings

        allow_globals = load_settings().pickle_allowances()
    path, scratch = fetch(str(uri), cache_dir, endpoint_url=endpoint_url, progress=progress)
    try:
        package = _verify_path(path, keyring, max_expansion_bytes, allow_unsigned, legacy_secret, progress,
                               tuple(allow_globals))
    except BaseException:
        if scratch is not None:
            remove_tree(scratch)
        raise
    if scratch is not None:
        package._extra_dirs.append(scratch)
    return package


def _verify_path(path: Path, keyring: Keyring, limit: int, allow_unsigned: bool,
                 legacy_secret: str | None, progress: Progress | None, allow: tuple[str, ...]) -> VerifiedPackage:
    source = open_source(path, limit)
    try:
        names = set(source.names())
        if MANIFEST_NAME not in names:
            from modelward.artifacts.interop import verify_foreign

            foreign: VerifiedPackage = verify_foreign(source, path, keyring, legacy_secret, limit)
            foreign.operator_allow = allow
            return foreign
        return verify_source(source, keyring, allow_unsigned=allow_unsigned, progress=progress, allow_globals=allow)
    except BaseException:
        source.close()
        raise
