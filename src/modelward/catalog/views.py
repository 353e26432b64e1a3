"""What the catalog hands back: frozen pydantic views (``.model_dump(mode="json")`` for the wire)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from modelward.catalog import schema as s
from modelward.catalog.inputs import DatasetRef


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (SQLite hands back naive UTC values)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def now() -> datetime:
    """The current time in UTC, to the microsecond."""
    return datetime.now(UTC)


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class ModelView(_View):
    """A model and its attributes."""

    qualified_name: str
    display_name: str
    description: str
    model_type: str
    owner: str
    line_of_business: str
    project: str
    tags: list[str]
    readme: str
    created_at: datetime
    updated_at: datetime


class DeploymentView(_View):
    """A deployment of a model version."""

    id: str
    model: str
    version: str
    target: str
    host_detail: str
    endpoint_url: str
    environment: str
    replicas: int
    deployed_by: str
    deployed_at: datetime
    status: str
    reason: str
    config_digest: str
    policy_package: str
    policy_bundle_digest: str
    replaced_id: str | None
    updated_at: datetime
    version_registered: bool = True
    failed_step: str = ""
    source_uri: str = ""


class VersionView(_View):
    """A model version with its provenance (and, from ``get_version``, every deployment).

    ``owner`` and ``line_of_business`` are the version's own; ``project`` and ``model_type`` the model's.
    """

    model: str
    version: str
    artifact_uri: str
    artifact_digest: str
    manifest_digest: str
    signing_key_id: str
    datasets: list[DatasetRef]
    code_repository: str
    code_commit: str
    metrics: dict[str, Any]
    registry_url: str
    stage: str
    created_by: str
    created_at: datetime
    owner: str
    line_of_business: str
    project: str
    model_type: str
    manifest: dict[str, Any] = {}
    deployments: list[DeploymentView] = []


def model_view(row: s.Model) -> ModelView:
    """The view of a model row."""
    return ModelView(
        qualified_name=row.qualified_name, display_name=row.display_name, description=row.description,
        model_type=row.model_type, owner=row.owner, line_of_business=row.line_of_business,
        project=row.project, tags=list(row.tags), readme=row.readme,
        created_at=utc(row.created_at), updated_at=utc(row.updated_at),
    )


def deployment_view(row: s.Deployment, model: str, version: str) -> DeploymentView:
    """The view of a deployment row (``model`` and ``version`` name its model version)."""
    return DeploymentView(
        id=row.id, model=model, version=version, target=row.target, host_detail=row.host_detail,
        endpoint_url=row.endpoint_url, environment=row.environment, replicas=row.replicas,
        deployed_by=row.deployed_by, deployed_at=utc(row.deployed_at), status=row.status,
        reason=row.reason, config_digest=row.config_digest, policy_package=row.policy_package,
        policy_bundle_digest=row.policy_bundle_digest, replaced_id=row.replaced_id,
        updated_at=utc(row.updated_at),
    )


def attempt_view(row: s.DeploymentAttempt) -> DeploymentView:
    """A failed attempt of an unregistered version, shaped as a ``failed`` deployment."""
    return DeploymentView(
        id=row.id, model=row.model, version=row.version, target=row.target, host_detail=row.host_detail,
        endpoint_url="", environment=row.environment, replicas=0, deployed_by=row.attempted_by,
        deployed_at=utc(row.attempted_at), status="failed", reason=row.reason, config_digest="",
        policy_package="", policy_bundle_digest="", replaced_id=None, updated_at=utc(row.attempted_at),
        version_registered=False, failed_step=row.step, source_uri=row.source_uri,
    )


def version_view(row: s.ModelVersion, deployments: list[s.Deployment] | None = None,
                 *, with_manifest: bool = False) -> VersionView:
    """The view of a version row (its own owner and line of business), optionally with its deployments."""
    name = row.model.qualified_name
    return VersionView(
        model=name, version=row.version, artifact_uri=row.artifact_uri,
        artifact_digest=row.artifact_digest, manifest_digest=row.manifest_digest,
        signing_key_id=row.signing_key_id,
        datasets=[DatasetRef(name=d.name, uri=d.uri, digest=d.digest) for d in row.datasets],
        code_repository=row.code_repository, code_commit=row.code_commit, metrics=dict(row.metrics),
        registry_url=row.registry_url, stage=row.stage, created_by=row.created_by,
        created_at=utc(row.created_at), owner=row.owner,
        line_of_business=row.line_of_business, project=row.model.project,
        model_type=row.model.model_type, manifest=dict(row.manifest) if with_manifest else {},
        deployments=[deployment_view(d, name, row.version) for d in deployments or []],
    )
