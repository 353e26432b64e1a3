"""Reads that answer the article's questions: what is deployed, when, where, which object, whose."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import selectinload

from modelward.catalog import schema as s
from modelward.catalog.db import Catalog
from modelward.catalog.records import find_model, find_version
from modelward.catalog.views import (
    DeploymentView,
    ModelView,
    VersionView,
    deployment_view,
    model_view,
    utc,
    version_view,
)
from modelward.errors import NotFound


class ModelDetail(BaseModel):
    """A model with all its versions (newest first)."""

    model_config = ConfigDict(frozen=True)

    model: ModelView
    versions: list[VersionView]


def get_model(catalog: Catalog, *, name: str) -> ModelDetail:
    """A model and its versions, or ``NotFound``."""
    with catalog.read() as session:
        row = find_model(session, name)
        versions = [version_view(v) for v in reversed(row.versions)]
        return ModelDetail(model=model_view(row), versions=versions)


def get_version(catalog: Catalog, *, name: str, version: str) -> VersionView:
    """``name@version`` with its manifest and every deployment (newest first), or ``NotFound``."""
    with catalog.read() as session:
        row = find_version(session, name, version)
        deployments = session.scalars(select(s.Deployment).where(s.Deployment.version_id == row.id)
                                      .order_by(s.Deployment.deployed_at.desc())).all()
        return version_view(row, list(deployments), with_manifest=True)


def list_models(catalog: Catalog, *, limit: int = 100, offset: int = 0) -> list[ModelView]:
    """Models by qualified name."""
    with catalog.read() as session:
        rows = session.scalars(select(s.Model).order_by(s.Model.qualified_name).limit(limit).offset(offset))
        return [model_view(r) for r in rows]


def get_deployment(catalog: Catalog, *, deployment_id: str) -> DeploymentView:
    """One deployment, or ``NotFound``."""
    with catalog.read() as session:
        row = session.get(s.Deployment, deployment_id)
        if row is None:
            raise NotFound(f"deployment '{deployment_id}' is not in the catalog")
        return deployment_view(row, row.version.model.qualified_name, row.version.version)


class DeploymentPage(BaseModel):
    """One page of deployments (newest first) and how many match in all."""

    model_config = ConfigDict(frozen=True)

    total: int
    deployments: list[DeploymentView]


def list_deployments(catalog: Catalog, *, model: str | None = None, version: str | None = None,
                     since: datetime | None = None, until: datetime | None = None,
                     environment: str | None = None, target: str | None = None, status: str | None = None,
                     limit: int = 100, offset: int = 0) -> DeploymentPage:
    """Which versions were deployed when and where: deployments matching every given filter."""
    query = (select(s.Deployment, s.Model.qualified_name, s.ModelVersion.version)
             .join(s.ModelVersion, s.Deployment.version_id == s.ModelVersion.id).join(s.Model))
    with catalog.read() as session:
        if model is not None:
            query = query.where(s.ModelVersion.model_id == find_model(session, model).id)
        if version is not None:
            query = query.where(s.ModelVersion.version == version)
        query = query.where(*_deployment_filters(since, until, environment, target, status))
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.execute(query.order_by(s.Deployment.deployed_at.desc(), s.Deployment.id)
                               .limit(limit).offset(offset)).all()
        return DeploymentPage(total=total, deployments=[deployment_view(r[0], r[1], r[2]) for r in rows])


def _deployment_filters(since: datetime | None, until: datetime | None, environment: str | None,
                        target: str | None, status: str | None) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if since is not None:
        found.append(s.Deployment.deployed_at >= utc(since))
    if until is not None:
        found.append(s.Deployment.deployed_at < utc(until))
    for column, value in ((s.Deployment.environment, environment), (s.Deployment.target, target),
                          (s.Deployment.status, status)):
        if value is not None:
            found.append(column == value)
    return found


def versions_of_dataset(catalog: Catalog, *, name: str) -> list[VersionView]:
    """Every model version trained on a dataset of that name."""
    with catalog.read() as session:
        rows = session.scalars(select(s.ModelVersion).join(s.VersionDataset).join(s.Dataset)
                               .where(s.Dataset.name == name).options(selectinload(s.ModelVersion.datasets))
                               .order_by(s.ModelVersion.created_at.desc())).all()
        return [version_view(r) for r in rows]
