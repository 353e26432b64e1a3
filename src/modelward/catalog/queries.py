"""Reads that answer the article's questions: what is deployed, when, where, which object, whose."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, Select, func, literal, select, union_all
from sqlalchemy.orm import Session, selectinload

from modelward.catalog import schema as s
from modelward.catalog.attempts import find_attempt
from modelward.catalog.db import Catalog
from modelward.catalog.records import find_model, find_version
from modelward.catalog.views import (
    DeploymentView,
    ModelView,
    VersionView,
    attempt_view,
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
    """One deployment (or failed attempt of an unregistered version), or ``NotFound``."""
    with catalog.read() as session:
        row = session.get(s.Deployment, deployment_id)
        if row is None:
            attempt = find_attempt(session, deployment_id)
            if attempt is None:
                raise NotFound(f"deployment '{deployment_id}' is not in the catalog")
            return attempt
        return deployment_view(row, row.version.model.qualified_name, row.version.version)


class DeploymentPage(BaseModel):
    """One page of deployments (newest first) and how many match in all."""

    model_config = ConfigDict(frozen=True)

    total: int
    deployments: list[DeploymentView]


@dataclass(frozen=True)
class _Filters:
    model: str | None
    version: str | None
    since: datetime | None
    until: datetime | None
    environment: str | None
    target: str | None
    status: str | None


def list_deployments(catalog: Catalog, *, model: str | None = None, version: str | None = None,
                     since: datetime | None = None, until: datetime | None = None,
                     environment: str | None = None, target: str | None = None, status: str | None = None,
                     limit: int = 100, offset: int = 0) -> DeploymentPage:
    """Which versions were deployed when and where: deployments matching every given filter.

    Failed attempts of versions that were never registered count as ``failed`` deployments.
    """
    wanted = _Filters(model, version, since, until, environment, target, status)
    with catalog.read() as session:
        deployed = _deployed(session, wanted)
        attempted = _attempted(wanted)
        tried = session.scalar(select(func.count()).select_from(attempted.subquery())) if attempted is not None else 0
        if deployed is None and not tried:
            find_model(session, model or "")  # raises NotFound naming the model
        plain = wanted.model is None and wanted.version is None
        if not tried:
            return _deployed_page(session, deployed, limit, offset, plain)
        return _merged_page(session, deployed, attempted, int(tried or 0), limit, offset, plain)


def _deployed(session: Session, wanted: _Filters) -> Select[s.Deployment, str, str] | None:
    """Deployments of registered versions matching ``wanted`` (None when the model is unknown)."""
    query = (select(s.Deployment, s.Model.qualified_name, s.ModelVersion.version)
             .join(s.ModelVersion, s.Deployment.version_id == s.ModelVersion.id).join(s.Model))
    if wanted.model is not None:
        found = session.scalar(select(s.Model.id).where(s.Model.qualified_name == wanted.model))
        if found is None:
            return None
        query = query.where(s.ModelVersion.model_id == found)
    if wanted.version is not None:
        query = query.where(s.ModelVersion.version == wanted.version)
    return query.where(*_deployment_filters(wanted.since, wanted.until, wanted.environment, wanted.target,
                                            wanted.status))


def _attempted(wanted: _Filters) -> Select[str, datetime] | None:
    """Failed attempts of unregistered versions matching ``wanted`` (None when status excludes them)."""
    if wanted.status not in (None, "failed"):
        return None
    a = s.DeploymentAttempt
    query = select(a.id.label("id"), a.attempted_at.label("at"))
    for column, value in ((a.model, wanted.model), (a.version, wanted.version), (a.environment, wanted.environment),
                          (a.target, wanted.target)):
        if value is not None:
            query = query.where(column == value)
    if wanted.since is not None:
        query = query.where(a.attempted_at >= utc(wanted.since))
    if wanted.until is not None:
        query = query.where(a.attempted_at < utc(wanted.until))
    return query


def _total(session: Session, query: Select[s.Deployment, str, str], plain: bool) -> int:
    """How many deployments ``query`` finds; ``plain`` (no model or version filter) counts without joins."""
    if not plain:
        return session.scalar(select(func.count()).select_from(query.subquery())) or 0
    counted = select(func.count()).select_from(s.Deployment)
    if query.whereclause is not None:
        counted = counted.where(query.whereclause)
    return session.scalar(counted) or 0


def _deployed_page(session: Session, query: Select[s.Deployment, str, str] | None, limit: int,
                   offset: int, plain: bool) -> DeploymentPage:
    if query is None:
        return DeploymentPage(total=0, deployments=[])
    total = _total(session, query, plain)
    rows = session.execute(query.order_by(s.Deployment.deployed_at.desc(), s.Deployment.id)
                           .limit(limit).offset(offset)).all()
    return DeploymentPage(total=total, deployments=[deployment_view(r[0], r[1], r[2]) for r in rows])


def _merged_page(session: Session, deployed: Select[s.Deployment, str, str] | None,
                 attempted: Select[str, datetime] | None, tried: int,
                 limit: int, offset: int, plain: bool) -> DeploymentPage:
    """Deployments and failed attempts together, newest first (only when there are attempts).

    Each side contributes only its newest ``offset + limit`` rows (an index walk each), so a page
    merges at most twice that many rows, not every deployment.
    """
    assert attempted is not None
    enough = offset + limit
    a = s.DeploymentAttempt
    parts = [select(attempted.add_columns(literal(1).label("attempt"))
                    .order_by(a.attempted_at.desc(), a.id).limit(enough).subquery())]
    total = tried
    if deployed is not None:
        ids = deployed.with_only_columns(s.Deployment.id.label("id"), s.Deployment.deployed_at.label("at"),
                                         literal(0).label("attempt"))
        parts.append(select(ids.order_by(s.Deployment.deployed_at.desc(), s.Deployment.id).limit(enough)
                            .subquery()))
        total += _total(session, deployed, plain)
    merged = union_all(*parts).subquery()
    page = session.execute(select(merged.c.id, merged.c.attempt).order_by(merged.c.at.desc(), merged.c.id)
                           .limit(limit).offset(offset)).all()
    return DeploymentPage(total=total, deployments=_views(session, [(str(i), bool(kind)) for i, kind in page]))


def _views(session: Session, page: list[tuple[str, bool]]) -> list[DeploymentView]:
    """The views of a page of (id, is-attempt) pairs, in order: two statements, not one per row."""
    deployed = [ident for ident, attempt in page if not attempt]
    rows = session.execute(select(s.Deployment, s.Model.qualified_name, s.ModelVersion.version)
                           .join(s.ModelVersion, s.Deployment.version_id == s.ModelVersion.id).join(s.Model)
                           .where(s.Deployment.id.in_(deployed))).all() if deployed else []
    views = {r[0].id: deployment_view(r[0], r[1], r[2]) for r in rows}
    tried = [ident for ident, attempt in page if attempt]
    if tried:
        views |= {a.id: attempt_view(a) for a in session.scalars(select(s.DeploymentAttempt)
                                                                 .where(s.DeploymentAttempt.id.in_(tried)))}
    return [views[ident] for ident, _ in page]


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
