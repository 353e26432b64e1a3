"""Writes: register versions, describe models, change stages, record deployments.

Every function here is keyword-only, runs in one write transaction and appends its audit event(s)
in that same transaction.
"""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any, NoReturn

from sqlalchemy import bindparam, delete, exists, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.sql.dml import ReturningInsert

from modelward.catalog import audit
from modelward.catalog import schema as s
from modelward.catalog.db import Catalog
from modelward.catalog.inputs import DatasetRef, DeploymentInfo, DeploymentStatus, ModelInfo, Stage, VersionInfo
from modelward.catalog.views import (
    DeploymentView,
    ModelView,
    VersionView,
    deployment_view,
    model_view,
    now,
    version_view,
)
from modelward.errors import Conflict, NotFound

MODEL_FIELDS = ("display_name", "description", "model_type", "owner", "line_of_business", "project", "readme")


def _model_summary(row: s.Model) -> dict[str, Any]:
    return {f: getattr(row, f) for f in (*MODEL_FIELDS[:-1], "tags")} | {"readme_chars": len(row.readme)}


def find_model(session: Session, name: str) -> s.Model:
    """The model row named ``name`` or ``NotFound``."""
    row = session.scalar(select(s.Model).where(s.Model.qualified_name == name))
    if row is None:
        raise NotFound(f"no model '{name}' in the catalog")
    return row


def find_version(session: Session, name: str, version: str) -> s.ModelVersion:
    """The version row ``name@version`` or ``NotFound``."""
    row = session.scalar(select(s.ModelVersion).join(s.Model)
                         .where(s.Model.qualified_name == name, s.ModelVersion.version == version))
    if row is None:
        find_model(session, name)
        raise NotFound(f"model '{name}' has no version '{version}' in the catalog")
    return row


def _set_tags(session: Session, row: s.Model, tags: tuple[str, ...]) -> None:
    session.execute(delete(s.ModelTag).where(s.ModelTag.model_id == row.id))
    session.add_all(s.ModelTag(model_id=row.id, tag=t) for t in tags)
    row.tags = list(tags)


def _create_model(session: Session, info: ModelInfo, actor: str) -> s.Model:
    moment = now()
    row = s.Model(qualified_name=info.qualified_name, tags=[], created_at=moment, updated_at=moment,
                  **{f: getattr(info, f) for f in MODEL_FIELDS})
    session.add(row)
    session.flush()
    _set_tags(session, row, info.tags)
    audit.append(session, actor=actor, action="model.create", entity=f"model:{row.qualified_name}",
                 after=_model_summary(row))
    return row


def _update_model(session: Session, row: s.Model, info: ModelInfo, actor: str, *, only_given: bool) -> None:
    before = _model_summary(row)
    for field in MODEL_FIELDS:
        value = getattr(info, field)
        if value or not only_given:
            setattr(row, field, value)
    if info.tags or not only_given:
        _set_tags(session, row, info.tags)
    after = _model_summary(row)
    if after != before:
        row.updated_at = now()
        changed = [k for k in after if after[k] != before[k]]
        audit.append(session, actor=actor, action="model.update", entity=f"model:{row.qualified_name}",
                     before={k: before[k] for k in changed}, after={k: after[k] for k in changed})


def describe_model(catalog: Catalog, *, info: ModelInfo, actor: str) -> ModelView:
    """Create the model or replace its attributes with ``info`` (an audit event when anything changes)."""
    with catalog.write() as session:
        row = session.scalar(select(s.Model).where(s.Model.qualified_name == info.qualified_name))
        if row is None:
            row = _create_model(session, info, actor)
        else:
            _update_model(session, row, info, actor, only_given=False)
        return model_view(row)


def _dataset(session: Session, ref: DatasetRef) -> s.Dataset:
    row = session.scalar(select(s.Dataset).where(s.Dataset.name == ref.name, s.Dataset.uri == ref.uri,
                                                 s.Dataset.digest == ref.digest))
    if row is None:
        row = s.Dataset(name=ref.name, uri=ref.uri, digest=ref.digest)
        session.add(row)
        session.flush()
    return row


def _version_summary(row: s.ModelVersion) -> dict[str, Any]:
    return {"artifact_uri": row.artifact_uri, "artifact_digest": row.artifact_digest,
            "signing_key_id": row.signing_key_id, "stage": row.stage, "owner": row.owner,
            "line_of_business": row.line_of_business,
            "datasets": [f"{d.name}@{d.digest}" for d in row.datasets],
            "code": f"{row.code_repository}@{row.code_commit}"}


def register_version(catalog: Catalog, *, model: ModelInfo, version: VersionInfo,
                     actor: str) -> tuple[VersionView, bool]:
    """Record ``model@version``; return its view and whether anything was written.

    The same version with the same artifact digest again is a no-op (``False``); with another
    digest it raises ``Conflict``. A new model is created; an existing one gets the attributes that
    ``model`` gives (non-empty ones), with an audit event when they change. The version keeps its
    own owner and line of business (``version``'s, else the model's as this call leaves it): a
    later registration changes the model's, never an older version's.
    """
    with catalog.write() as session:
        row = session.scalar(select(s.Model).where(s.Model.qualified_name == model.qualified_name))
        if row is not None:
            existing = session.scalar(select(s.ModelVersion).where(
                s.ModelVersion.model_id == row.id, s.ModelVersion.version == version.version))
            if existing is not None:
                _same_bytes(existing, version, model.qualified_name)
                return version_view(existing, with_manifest=True), False
            _update_model(session, row, model, actor, only_given=True)
        else:
            row = _create_model(session, model, actor)
        created = _insert_version(session, row, version, actor)
        return version_view(created, with_manifest=True), True


def _same_bytes(existing: s.ModelVersion, version: VersionInfo, name: str) -> None:
    if existing.artifact_digest != version.artifact_digest:
        raise Conflict(f"{name}@{version.version} is already registered with artifact digest "
                       f"{existing.artifact_digest}; the new package has {version.artifact_digest}. "
                       "Register changed bytes as a new version.")


def _insert_version(session: Session, model: s.Model, info: VersionInfo, actor: str) -> s.ModelVersion:
    fields = info.model_dump(exclude={"datasets"})
    datasets = [_dataset(session, ref) for ref in dict.fromkeys(info.datasets)]
    fields["owner"] = info.owner or model.owner
    fields["line_of_business"] = info.line_of_business or model.line_of_business
    row = s.ModelVersion(model_id=model.id, stage=Stage.REGISTERED.value, created_by=actor, created_at=now(),
                         **fields)
    session.add(row)
    row.datasets = datasets
    session.flush()
    audit.append(session, actor=actor, action="version.register",
                 entity=f"{model.qualified_name}@{row.version}", after=_version_summary(row))
    return row


def set_stage(catalog: Catalog, *, model: str, version: str, stage: Stage | str, actor: str) -> VersionView:
    """Move ``model@version`` to ``stage`` (no event when it is already there)."""
    wanted = Stage(stage)
    with catalog.write() as session:
        row = find_version(session, model, version)
        if row.stage != wanted.value:
            before = row.stage
            row.stage = wanted.value
            audit.append(session, actor=actor, action="version.stage", entity=f"{model}@{version}",
                         before={"stage": before}, after={"stage": wanted.value})
        return version_view(row)


SUMMARY_FIELDS = ("status", "target", "environment", "host_detail", "endpoint_url", "replicas", "config_digest",
                  "replaced_id", "reason")


def deployment_summary(row: s.Deployment) -> dict[str, Any]:
    return {name: getattr(row, name) for name in SUMMARY_FIELDS}


def record_deployment(catalog: Catalog, *, info: DeploymentInfo, actor: str) -> DeploymentView:
    """Record a deployment (or a failed attempt) of ``info.model@info.version``.

    When it replaces another deployment and is running, the replaced one becomes ``replaced``.
    The write is two statements on the transaction's connection (the deployment, its audit event),
    besides the catalog's write lock: no ORM unit of work on this path, which deploys call most.
    """
    with catalog.write() as session:
        ident = info.deployment_id or uuid.uuid4().hex  # a fresh UUID needs no duplicate check
        if info.replaces is not None and session.get(s.Deployment, info.replaces) is None:
            _refuse(session, info, ident)
        row = _new_deployment(info, ident, actor)
        _insert_deployment(session, row, info)
        audit.append(session, actor=actor, action="deployment.record", entity=f"deployment:{ident}",
                     after={"model": f"{info.model}@{info.version}"} | deployment_summary(row))
        _retire_replaced(session, row, actor)
        return deployment_view(row, info.model, info.version)


def _new_deployment(info: DeploymentInfo, ident: str, actor: str) -> s.Deployment:
    """The row to insert, transient (never added to the session)."""
    moment = now()
    fields = info.model_dump(exclude={"model", "version", "replaces", "deployment_id", "deployed_at"})
    return s.Deployment(id=ident, deployed_by=actor, updated_at=moment, deployed_at=info.deployed_at or moment,
                        replaced_id=info.replaces,
                        **{k: str(v) if k in ("target", "status") else v for k, v in fields.items()})


@cache
def _deployment_insert(dialect: str) -> ReturningInsert[Any]:
    """``INSERT INTO deployments ... SELECT``: the version lookup and the duplicate-id checks ride in it.

    Built once per dialect (and compiled once by SQLAlchemy's statement cache); parameters are the
    deployment's columns prefixed ``d_`` plus ``model`` and ``version``.
    """
    tables = s.Base.metadata.tables
    table, versions, models = tables["deployments"], tables["model_versions"], tables["models"]
    attempts = tables["deployment_attempts"]
    names = _inserted_columns()
    source = (select(*(bindparam(f"d_{n}", type_=table.c[n].type) for n in names), versions.c.id)
              .select_from(versions.join(models, models.c.id == versions.c.model_id))
              .where(models.c.qualified_name == bindparam("model"), versions.c.version == bindparam("version"),
                     ~exists().where(attempts.c.id == bindparam("d_id"))))  # ids are shared with attempts
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (insert(table).from_select([*names, "version_id"], source)
            .on_conflict_do_nothing(index_elements=["id"]).returning(table.c.version_id))


@cache
def _inserted_columns() -> tuple[str, ...]:
    """The deployment columns given as parameters (``version_id`` comes from the version lookup)."""
    return tuple(col.name for col in s.Base.metadata.tables["deployments"].columns if col.name != "version_id")


def _insert_deployment(session: Session, row: s.Deployment, info: DeploymentInfo) -> None:
    """Insert ``row`` for ``info``'s version and set its ``version_id``.

    No row inserted means a missing version or an id already recorded (as a deployment or a failed
    attempt); which one is found out then.
    """
    connection = session.connection()
    statement = _deployment_insert(connection.dialect.name)
    params = {f"d_{name}": getattr(row, name) for name in _inserted_columns()} | {"model": info.model,
                                                                                 "version": info.version}
    try:
        version_id = connection.execute(statement, params).scalar()
    except IntegrityError as exc:
        raise Conflict(f"deployment '{row.id}' conflicts with what the catalog holds") from exc
    if version_id is None:
        _refuse(session, info, row.id)
    row.version_id = version_id


def _refuse(session: Session, info: DeploymentInfo, ident: str) -> NoReturn:
    """Raise what is wrong with ``info``, checked in the order the errors have always come in."""
    find_version(session, info.model, info.version)
    if session.get(s.Deployment, ident) is not None or session.get(s.DeploymentAttempt, ident) is not None:
        raise Conflict(f"deployment '{ident}' is already recorded")
    raise NotFound(f"deployment '{info.replaces}' (the one this replaces) is not in the catalog")


def _retire_replaced(session: Session, row: s.Deployment, actor: str) -> None:
    """A running ``row`` marks the deployment it replaced as replaced (unless it already is)."""
    if row.replaced_id is None or row.status != DeploymentStatus.RUNNING.value:
        return
    old = session.get(s.Deployment, row.replaced_id)
    if old is not None and old.status != DeploymentStatus.REPLACED.value:
        _change(session, old, actor, status=DeploymentStatus.REPLACED.value, reason=f"replaced by {row.id}")


def _change(session: Session, row: s.Deployment, actor: str, **changes: Any) -> None:
    before = deployment_summary(row)
    for key, value in changes.items():
        setattr(row, key, value)
    after = deployment_summary(row)
    changed = [k for k in after if after[k] != before[k]]
    if changed:
        row.updated_at = now()
        audit.append(session, actor=actor, action="deployment.update", entity=f"deployment:{row.id}",
                     before={k: before[k] for k in changed}, after={k: after[k] for k in changed})


def update_deployment(catalog: Catalog, *, deployment_id: str, actor: str,
                      status: DeploymentStatus | str | None = None, reason: str | None = None,
                      replicas: int | None = None, endpoint_url: str | None = None) -> DeploymentView:
    """Change a deployment's status, reason, replicas or endpoint (one audit event for the change)."""
    changes: dict[str, Any] = {"status": DeploymentStatus(status).value if status is not None else None,
                               "reason": reason, "replicas": replicas, "endpoint_url": endpoint_url}
    with catalog.write() as session:
        row = session.scalar(select(s.Deployment).where(s.Deployment.id == deployment_id)  # one round trip
                             .options(joinedload(s.Deployment.version).joinedload(s.ModelVersion.model)))
        if row is None:
            raise NotFound(f"deployment '{deployment_id}' is not in the catalog")
        _change(session, row, actor, **{k: v for k, v in changes.items() if v is not None})
        _retire_replaced(session, row, actor)
        return deployment_view(row, row.version.model.qualified_name, row.version.version)
