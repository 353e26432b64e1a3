"""What callers hand to the catalog: frozen pydantic values, plain data only (no artifacts types)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from modelward.errors import CatalogError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")
MAX_OFFSET = 2**31 - 1  # paging: the largest row offset the CLI and the API accept (fits every database)
MAX_PAGE = 1_000_000  # search pages: page * per_page stays far below the databases' integer limits
MAX_REPLICAS = 2**31 - 1  # a Kubernetes replica count is an int32, as is the column


def to_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (a naive one is taken as UTC); ``ValueError`` when UTC cannot hold it.

    Values are stored in UTC: SQLite keeps no offset, so one left on a value would be dropped.
    """
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"{moment.isoformat()} is outside the dates UTC can hold") from exc


UtcDateTime = Annotated[datetime, AfterValidator(to_utc)]


class Stage(StrEnum):
    """Where a model version is in its life."""

    REGISTERED = "registered"
    VALIDATED = "validated"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"


class Target(StrEnum):
    """The kind of place a model version is deployed to."""

    LOCAL = "local"
    KUBERNETES = "kubernetes"
    SELDON = "seldon"
    KSERVE = "kserve"


class DeploymentStatus(StrEnum):
    """A deployment's state; ``failed`` rows are attempts that did not go live (see ``reason``).

    ``rolled_back``: it was running until a rollback restored the version that ran before it.
    """

    PENDING = "pending"
    RUNNING = "running"
    FAILED = "failed"
    REPLACED = "replaced"
    STOPPED = "stopped"
    ROLLED_BACK = "rolled_back"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class DatasetRef(_Frozen):
    """A training dataset: name, where it is, and the digest of its bytes."""

    name: str = Field(min_length=1, max_length=200)
    uri: str = Field(default="", max_length=1000)
    digest: str = Field(default="", max_length=200)


class ModelInfo(_Frozen):
    """A model's descriptive attributes (its qualified name identifies it)."""

    qualified_name: str
    display_name: str = Field(default="", max_length=200)
    description: str = ""
    model_type: str = Field(default="", max_length=100)
    owner: str = Field(default="", max_length=200)
    line_of_business: str = Field(default="", max_length=200)
    project: str = Field(default="", max_length=200)
    tags: tuple[str, ...] = ()
    readme: str = ""

    @field_validator("qualified_name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("must start with a letter or digit and use only letters, digits, _ . -")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(dict.fromkeys(t.strip().lower() for t in value if t.strip()))
        if any(len(t) > 100 for t in cleaned):
            raise ValueError("a tag is longer than 100 characters")
        return cleaned


def _path_segment(value: str) -> str:
    """A version or id is one segment of the REST paths (``/models/NAME/versions/VERSION``)."""
    if "/" in value or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain '/' or control characters (it is one segment of the REST paths)")
    return value


PathSegment = Annotated[str, AfterValidator(_path_segment)]


class VersionInfo(_Frozen):
    """One version's artifact, provenance and ownership, as read from its (signed) package.

    ``owner`` and ``line_of_business`` belong to this version; left empty, they are the model's
    (as ``register_version`` leaves it) at registration time.
    """

    version: PathSegment = Field(min_length=1, max_length=100)
    artifact_uri: str = Field(default="", max_length=1000)
    artifact_digest: str = Field(default="", max_length=200)
    manifest: dict[str, Any] = Field(default_factory=dict)
    manifest_digest: str = Field(default="", max_length=200)
    signing_key_id: str = Field(default="", max_length=200)
    datasets: tuple[DatasetRef, ...] = ()
    code_repository: str = Field(default="", max_length=1000)
    code_commit: str = Field(default="", max_length=100)
    metrics: dict[str, Any] = Field(default_factory=dict)
    registry_url: str = Field(default="", max_length=1000)
    owner: str = Field(default="", max_length=200)
    line_of_business: str = Field(default="", max_length=200)

    @field_validator("manifest", "metrics")
    @classmethod
    def _json(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            json.dumps(value, allow_nan=False)
        except ValueError as exc:  # NaN and Infinity are not JSON: PostgreSQL refuses them, SQLite alters them
            raise ValueError("NaN and Infinity are not JSON numbers") from exc
        return value


class DeploymentInfo(_Frozen):
    """One deployment (or failed attempt) of ``model@version``."""

    model: str
    version: str
    target: Target
    host_detail: str = Field(default="", max_length=1000)
    endpoint_url: str = Field(default="", max_length=1000)
    environment: str = Field(default="", max_length=100)
    replicas: int = Field(default=1, ge=0, le=MAX_REPLICAS)
    status: DeploymentStatus = DeploymentStatus.RUNNING
    reason: str = ""
    config_digest: str = Field(default="", max_length=200)
    policy_package: str = Field(default="", max_length=200)
    policy_bundle_digest: str = Field(default="", max_length=200)
    replaces: str | None = None
    deployment_id: PathSegment | None = Field(default=None, min_length=1, max_length=64)
    deployed_at: UtcDateTime | None = None


class AttemptInfo(_Frozen):
    """A failed deployment attempt that never reached a registered version (e.g. refused at verify).

    ``version`` is the version the deployment file or package claimed, when known; ``step`` is the
    step that failed (``stage``, ``verify``, ...) and ``reason`` what went wrong.
    """

    model: str = Field(min_length=1, max_length=200)
    version: str = Field(default="", max_length=100)
    source_uri: str = Field(default="", max_length=1000)
    target: Target
    environment: str = Field(default="", max_length=100)
    host_detail: str = Field(default="", max_length=1000)
    step: str = Field(min_length=1, max_length=50)
    reason: str = Field(min_length=1)
    attempt_id: PathSegment | None = Field(default=None, min_length=1, max_length=64)
    attempted_at: UtcDateTime | None = None


def parse_ref(ref: str) -> tuple[str, str]:
    """Split ``model@version`` into its two parts (``CatalogError`` when it is not of that shape).

    A qualified name has no ``@`` (see ``NAME``); a version may, so the first ``@`` separates them.
    """
    name, sep, version = ref.partition("@")
    if not sep or not name or not version:
        raise CatalogError(f"'{ref}' is not a model reference of the form NAME@VERSION")
    return name, version
