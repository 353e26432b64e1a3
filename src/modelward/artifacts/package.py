"""Build a package (files + manifest), sign it, read its manifest without verifying."""

from __future__ import annotations

import io
import os
import secrets
import shutil
import stat
import zipfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from modelward.artifacts.catalogue import GlobalPolicy, pair_text, vet_extensions
from modelward.artifacts.digests import hash_stream
from modelward.artifacts.keys import Signer
from modelward.artifacts.manifest import (
    KNOWN_CASES_NAME,
    MANIFEST_NAME,
    RESERVED_NAMES,
    SIGNATURE_NAME,
    FileEntry,
    FileFormat,
    Manifest,
    ModelRef,
    Training,
    parse_manifest,
    utc_now,
)
from modelward.artifacts.pickles import record_skops_types
from modelward.artifacts.scan import looks_like_joblib, scan_joblib, scan_pickle
from modelward.artifacts.signature import Signature, parse_signature, sign_manifest
from modelward.artifacts.sources import DirectorySource, open_source, reading
from modelward.errors import PackageFormatError

FORMATS: dict[str, FileFormat] = {".pkl": "pickle", ".pickle": "pickle", ".joblib": "joblib",
                                  ".skops": "skops"}
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_NO_LIMIT = 1 << 62
PackageForm = Literal["zip", "directory"]


def _entry(source: DirectorySource, name: str, policy: GlobalPolicy) -> FileEntry:
    """Hash one file; for pickle/joblib/skops files find, statically, the globals it needs and vet them."""
    file_format = FORMATS.get(Path(name).suffix.lower(), "data")
    with reading(source, name) as stream:
        if file_format == "data":
            digest, size = hash_stream(stream)
            return FileEntry(path=name, size=size, digest=digest)
        data = stream.read()
    digest, size = hash_stream(io.BytesIO(data))
    where = f"{source.location}/{name}"
    if file_format == "pickle" and looks_like_joblib(data):
        file_format = "joblib"  # joblib.dump(model, "model.pkl"): read the way joblib wrote it
    if file_format == "skops":
        return FileEntry(path=name, size=size, digest=digest, format="skops",
                         trusted_types=record_skops_types(data, policy, where))
    found = scan_pickle(data, where) if file_format == "pickle" else scan_joblib(data, where)
    for module, qualname in found:
        policy.check(module, qualname, where, recorded_only=False)
    return FileEntry(path=name, size=size, digest=digest, format=file_format,
                     globals=tuple(pair_text(pair) for pair in sorted(found)))


def make_manifest(folder: Path, *, qualified_name: str, version: str, training: Training | None = None,
                  created: datetime | None = None, allow_globals: Iterable[str] = ()) -> Manifest:
    """Hash every file of ``folder`` and record pickle globals: the manifest of a future package.

    Pickle and joblib files are scanned statically (nothing in them runs); a global that is neither
    in the baseline nor vetted by the catalogue nor in ``allow_globals`` (``module:qualname``, an
    explicit, reviewed extension signed with the package) makes the build refuse.
    """
    if not folder.is_dir():
        raise PackageFormatError(f"{folder}: {'is not a folder' if folder.exists() else 'no such folder'} "
                                 "(package a folder of model files)")
    try:
        model = ModelRef(qualified_name=qualified_name, version=version)
    except ValidationError:
        raise PackageFormatError(f"{folder}: the model's qualified name and version must not be empty") from None
    source = DirectorySource(folder, _NO_LIMIT)
    names = [n for n in source.names() if n not in RESERVED_NAMES]
    clash = [n for n in source.names() if n in RESERVED_NAMES]
    if clash:
        raise PackageFormatError(f"{folder}: already holds {', '.join(clash)}; package a folder of model "
                                 "files, not a package")
    if not names:
        raise PackageFormatError(f"{folder}: no files to package")
    training = training or Training()
    missing = [r for r in training.reports if r not in names]
    if missing:
        raise PackageFormatError(f"{folder}: training report(s) {', '.join(missing)} not found")
    extensions = vet_extensions(allow_globals, f"{folder}: allow_globals")
    policy = GlobalPolicy(extensions=extensions)
    return Manifest(model=model,
                    created=created or utc_now(), files=tuple(_entry(source, n, policy) for n in names),
                    training=training, known_cases=KNOWN_CASES_NAME if KNOWN_CASES_NAME in names else None,
                    allow_globals=tuple(sorted(pair_text(p) for p in extensions)))


def build_package(folder: Path | str, output: Path | str, *, qualified_name: str, version: str,
                  training: Training | None = None, signer: Signer | None = None,
                  created: datetime | None = None, allow_globals: Iterable[str] = ()) -> Manifest:
    """Package ``folder`` into ``output`` (``.zip`` file, else a directory), signing it if ``signer``.

    Every file of ``folder`` goes in, including training reports and ``validation.jsonl`` (the known
    cases, at the package root). Symbolic and hard links are refused. ``allow_globals``: see
    ``make_manifest``.
    """
    folder, output = Path(folder), Path(output)
    _check_output(output)
    manifest = make_manifest(folder, qualified_name=qualified_name, version=version, training=training,
                             created=created, allow_globals=allow_globals)
    manifest_bytes = manifest.canonical_bytes()
    signature = sign_manifest(manifest_bytes, signer).to_bytes() if signer else None
    try:
        if output.suffix == ".zip":
            _write_zip(folder, output, manifest, manifest_bytes, signature)
        else:
            _write_directory(folder, output, manifest, manifest_bytes, signature)
    except OSError as exc:
        raise PackageFormatError(f"cannot write the package {output}: {exc.strerror or exc}") from None
    return manifest


def _check_output(output: Path) -> None:
    """Refuse an output that cannot become a package before any file is hashed."""
    if output.suffix == ".zip" and output.is_dir():
        raise PackageFormatError(f"{output}: is a directory; give the path of a new .zip file")
    if output.suffix != ".zip" and output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise PackageFormatError(f"{output}: exists and is not an empty directory (a package that is not "
                                 "a .zip is written as a new directory)")


def _copy_checked(folder: Path, name: str, expected: FileEntry, sink: io.BufferedIOBase | io.RawIOBase) -> None:
    with (folder / name).open("rb") as stream:
        digest, size = hash_stream(stream, sink=sink)  # type: ignore[arg-type]
    if (digest, size) != (expected.digest, expected.size):
        raise PackageFormatError(f"{folder / name}: changed while it was being packaged")


def _zip_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _write_zip(folder: Path, output: Path, manifest: Manifest, manifest_bytes: bytes,
               signature: bytes | None) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.{secrets.token_hex(4)}.part")
    try:
        with zipfile.ZipFile(temporary, "w", allowZip64=True) as archive:
            archive.writestr(_zip_info(MANIFEST_NAME), manifest_bytes)
            for entry in manifest.files:
                with archive.open(_zip_info(entry.path), "w", force_zip64=entry.size > 2**31) as sink:
                    _copy_checked(folder, entry.path, entry, sink)  # type: ignore[arg-type]
            if signature is not None:
                archive.writestr(_zip_info(SIGNATURE_NAME), signature)
        temporary.replace(output)
    finally:
        temporary.unlink(missing_ok=True)


def _write_directory(folder: Path, output: Path, manifest: Manifest, manifest_bytes: bytes,
                     signature: bytes | None) -> None:
    _check_output(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.{secrets.token_hex(4)}.part")
    try:
        temporary.mkdir()
        for entry in manifest.files:
            target = temporary / entry.path
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as sink:
                _copy_checked(folder, entry.path, entry, sink)
        (temporary / MANIFEST_NAME).write_bytes(manifest_bytes)
        if signature is not None:
            (temporary / SIGNATURE_NAME).write_bytes(signature)
        temporary.replace(output)  # onto a missing or empty directory: the package appears whole
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def sign_package(package: Path | str, signer: Signer, *, signed_at: datetime | None = None) -> Signature:
    """Sign (or re-sign) a package's manifest and write ``signature.json`` into it."""
    package = Path(package)
    manifest_bytes = _read_member(package, MANIFEST_NAME, 16 * 1024 * 1024)
    if manifest_bytes is None:
        raise PackageFormatError(f"{package}: has no {MANIFEST_NAME}; build it with `modelward package build`")
    parse_manifest(manifest_bytes, f"{package}/{MANIFEST_NAME}")
    signature = sign_manifest(manifest_bytes, signer, signed_at)
    if package.is_dir():
        (package / SIGNATURE_NAME).write_bytes(signature.to_bytes())
    else:
        _replace_zip_member(package, SIGNATURE_NAME, signature.to_bytes())
    return signature


def _replace_zip_member(path: Path, name: str, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    try:
        with zipfile.ZipFile(path) as old, zipfile.ZipFile(temporary, "w", allowZip64=True) as new:
            for info in old.infolist():
                if info.filename == name:
                    continue
                with old.open(info) as reader, new.open(_zip_info(info.filename), "w",
                                                         force_zip64=info.file_size > 2**31) as writer:
                    while chunk := reader.read(1024 * 1024):
                        writer.write(chunk)
            new.writestr(_zip_info(name), data)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


def _read_member(package: Path, name: str, limit: int) -> bytes | None:
    source = open_source(package, _NO_LIMIT)
    try:
        if name not in source.names():
            return None
        if source.declared_size(name) > limit:
            raise PackageFormatError(f"{package}: {name} is larger than {limit} bytes")
        with reading(source, name) as stream:
            return stream.read(limit + 1)
    finally:
        source.close()


def read_manifest(uri: Path | str, *, endpoint_url: str | None = None) -> Manifest:
    """The manifest of a package (path, ``file://`` or ``s3://``), NOT verified: for display only."""
    from modelward.artifacts.loader import fetch
    from modelward.artifacts.stores import remove_tree

    path, scratch = fetch(os.fspath(uri), endpoint_url=endpoint_url)
    try:
        data = _read_member(path, MANIFEST_NAME, 16 * 1024 * 1024)
    finally:
        if scratch is not None:
            remove_tree(scratch)
    if data is None:
        raise PackageFormatError(f"{path}: has no {MANIFEST_NAME}")
    return parse_manifest(data, f"{path}/{MANIFEST_NAME}")


def read_signature(uri: Path | str) -> Signature | None:
    """The signature document of a local package, NOT verified (None if unsigned)."""
    path = Path(os.fspath(uri).removeprefix("file://"))
    data = _read_member(path, SIGNATURE_NAME, 64 * 1024)
    return None if data is None else parse_signature(data, f"{path}/{SIGNATURE_NAME}")


