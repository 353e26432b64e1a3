"""The package manifest: what a package holds, signed as canonical JSON bytes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, field_validator, model_validator

from modelward.artifacts.digests import Digest
from modelward.errors import PackageFormatError

MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "signature.json"
KNOWN_CASES_NAME = "validation.jsonl"
MANIFEST_FORMAT = "modelward-package/2"
MANIFEST_FORMATS = ("modelward-package/1", "modelward-package/2")
RESERVED_NAMES = frozenset({MANIFEST_NAME, SIGNATURE_NAME})

FileFormat = Literal["pickle", "joblib", "skops", "data"]


def _utc(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("times must carry a time zone")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FileEntry(_Frozen):
    """One file of the package: relative POSIX path, size in bytes, digest, how to load it."""

    path: str
    size: int = Field(ge=0)
    digest: str
    format: FileFormat = "data"
    globals: tuple[str, ...] = Field(
        default=(), description="For pickle/joblib: the globals the file imports, 'module:qualname' "
                                "(format 1: 'module.name')."
    )
    trusted_types: tuple[str, ...] = Field(default=(), description="For skops: the types it needs.")

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str) -> str:
        Digest.parse(value)
        return value


class DatasetRef(_Frozen):
    """A data set the model was trained on."""

    name: str
    uri: str = ""
    digest: str | None = None


class CodeRef(_Frozen):
    """The code that trained the model."""

    repository: str = ""
    commit: str = ""


class Training(_Frozen):
    """Where the model came from."""

    datasets: tuple[DatasetRef, ...] = ()
    code: CodeRef = CodeRef()
    metrics: dict[str, float] = Field(default_factory=dict)
    owner: str = ""
    reports: tuple[str, ...] = Field(default=(), description="Package paths of training reports.")


class ModelRef(_Frozen):
    """Which model this package holds."""

    qualified_name: str = Field(min_length=1)
    version: str = Field(min_length=1)


class Manifest(_Frozen):
    """Everything a verifier needs: the model, each file's size and digest, the training record."""

    format: Literal["modelward-package/1", "modelward-package/2"] = "modelward-package/2"
    model: ModelRef
    created: datetime
    files: tuple[FileEntry, ...]
    training: Training = Training()
    known_cases: str | None = Field(default=None, description="Path of the known cases (JSON lines).")
    allow_globals: tuple[str, ...] = Field(
        default=(), description="Format 2: pickle globals ('module:qualname') allowed for this package beyond "
                                "modelward's vetted catalogue, by the signer's explicit choice."
    )

    @field_serializer("created")
    def _created(self, value: datetime) -> str:
        return _utc(value)

    @field_validator("created")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        _utc(value)
        return value

    @model_validator(mode="after")
    def _format_fields(self) -> Manifest:
        if self.format == "modelward-package/1" and self.allow_globals:
            raise ValueError("allow_globals needs format modelward-package/2")
        return self

    def recorded_globals(self, entry: FileEntry) -> tuple[tuple[str, str], ...]:
        """``entry.globals`` as (module, qualname) pairs (format 1 wrote 'module.name': the name has no dot)."""
        if self.format == "modelward-package/1":
            return tuple((g.rpartition(".")[0], g.rpartition(".")[2]) for g in entry.globals)
        return tuple((g.partition(":")[0], g.partition(":")[2]) for g in entry.globals)

    def file(self, path: str) -> FileEntry:
        """The entry for ``path``; ``KeyError`` if the manifest has none."""
        for entry in self.files:
            if entry.path == path:
                return entry
        raise KeyError(path)

    def canonical_bytes(self) -> bytes:
        """The exact bytes that are stored as ``manifest.json`` and signed."""
        document = self.model_dump(mode="json")
        if self.format == "modelward-package/1":  # format 1 had no allow_globals field
            document.pop("allow_globals")
        return canonical_json(document)


def canonical_json(document: Any) -> bytes:
    """Sorted keys, no insignificant whitespace, UTF-8: one byte string per document."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def parse_manifest(data: bytes, where: str = MANIFEST_NAME) -> Manifest:
    """Parse manifest bytes; refuse anything that is not the canonical form of a valid manifest."""
    try:
        manifest = Manifest.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        place = ".".join(str(part) for part in first["loc"]) or "(root)"
        raise PackageFormatError(f"{where}: {place}: {first['msg']}") from None
    if manifest.canonical_bytes() != data:
        raise PackageFormatError(f"{where}: not in canonical form (sorted keys, no whitespace, UTF-8)")
    return manifest


def utc_now() -> datetime:
    """Now, in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0)
