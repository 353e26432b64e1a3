"""The catalog's tables (SQLAlchemy 2 declarative). Alembic owns how they come to exist.

Lineage edges are the ``version_datasets`` rows (dataset -> model version) and each deployment's
``version_id`` (model version -> deployment); ``replaced_id`` links a deployment to the one it replaced.
``version_placements`` is a summary (one row per version, environment and target ever deployed to)
that a database trigger keeps in the deployment's own transaction, so that search filters need not
probe the (large) deployments table; ``deployment_attempts`` holds failed attempts that never reached
a registered version (a refused signature, an unknown key).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    """Declarative base of every catalog table."""

    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON, datetime: DateTime(timezone=True)}


class Model(Base):
    """A model, named by its qualified name."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    qualified_name: Mapped[str] = mapped_column(String(200), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    model_type: Mapped[str] = mapped_column(String(100), default="", index=True)
    owner: Mapped[str] = mapped_column(String(200), default="", index=True)
    line_of_business: Mapped[str] = mapped_column(String(200), default="", index=True)
    project: Mapped[str] = mapped_column(String(200), default="")
    tags: Mapped[list[str]] = mapped_column(default=list)
    readme: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    versions: Mapped[list[ModelVersion]] = relationship(back_populates="model", order_by="ModelVersion.id")


class ModelTag(Base):
    """One tag of a model, for exact tag filters (``models.tags`` keeps the ordered list)."""

    __tablename__ = "model_tags"

    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)


class Dataset(Base):
    """A training dataset, identified by name, URI and digest."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("name", "uri", "digest", name="uq_datasets_identity"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    uri: Mapped[str] = mapped_column(String(1000), default="")
    digest: Mapped[str] = mapped_column(String(200), default="")


class VersionDataset(Base):
    """Lineage edge: a dataset trained a model version."""

    __tablename__ = "version_datasets"

    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), primary_key=True, index=True)


class ModelVersion(Base):
    """One registered version of a model: its artifact, provenance, ownership and stage.

    ``owner`` and ``line_of_business`` are the version's own (from its manifest and registration); the
    model row holds the latest registration's, so registering a new version never changes an old one.
    """

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
        Index("ix_model_versions_stage_created", "stage", "created_at"),
        Index("ix_model_versions_model_stage_created", "model_id", "stage", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    version: Mapped[str] = mapped_column(String(100))
    artifact_uri: Mapped[str] = mapped_column(String(1000), default="")
    artifact_digest: Mapped[str] = mapped_column(String(200), default="")
    manifest: Mapped[dict[str, Any]] = mapped_column(default=dict)
    manifest_digest: Mapped[str] = mapped_column(String(200), default="")
    signing_key_id: Mapped[str] = mapped_column(String(200), default="")
    code_repository: Mapped[str] = mapped_column(String(1000), default="")
    code_commit: Mapped[str] = mapped_column(String(100), default="")
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    registry_url: Mapped[str] = mapped_column(String(1000), default="")
    owner: Mapped[str] = mapped_column(String(200), default="", index=True)  # this version's, as registered
    line_of_business: Mapped[str] = mapped_column(String(200), default="", index=True)
    stage: Mapped[str] = mapped_column(String(20), default="registered")
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(index=True)

    model: Mapped[Model] = relationship(back_populates="versions")
    datasets: Mapped[list[Dataset]] = relationship(secondary="version_datasets", order_by="Dataset.id")


class GraphMember(Base):
    """Lineage edge: a graph's version serves ``member_version_id`` at its MODEL node ``node``."""

    __tablename__ = "graph_members"

    graph_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"),
                                                  primary_key=True)
    node: Mapped[str] = mapped_column(String(100), primary_key=True)
    member_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)

    member: Mapped[ModelVersion] = relationship(foreign_keys=[member_version_id])


class Deployment(Base):
    """One deployment (or failed attempt) of a model version to a target."""

    __tablename__ = "deployments"
    __table_args__ = (
        Index("ix_deployments_version_env", "version_id", "environment"),
        Index("ix_deployments_version_target", "version_id", "target"),
        Index("ix_deployments_deployed_at", "deployed_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    target: Mapped[str] = mapped_column(String(20))
    host_detail: Mapped[str] = mapped_column(String(1000), default="")
    endpoint_url: Mapped[str] = mapped_column(String(1000), default="")
    environment: Mapped[str] = mapped_column(String(100), default="")
    replicas: Mapped[int] = mapped_column(Integer, default=1)
    deployed_by: Mapped[str] = mapped_column(String(200), default="")
    deployed_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    config_digest: Mapped[str] = mapped_column(String(200), default="")
    policy_package: Mapped[str] = mapped_column(String(200), default="")
    policy_bundle_digest: Mapped[str] = mapped_column(String(200), default="")
    replaced_id: Mapped[str | None] = mapped_column(ForeignKey("deployments.id"), default=None, index=True)
    updated_at: Mapped[datetime]

    version: Mapped[ModelVersion] = relationship()


class VersionPlacement(Base):
    """Summary: ``version_id`` was deployed (or attempted) to ``environment`` on ``target``.

    Filled by the ``deployments_placement`` trigger (revision 0002), never by application code.
    """

    __tablename__ = "version_placements"
    __table_args__ = (Index("ix_version_placements_env_target", "environment", "target", "version_id"),)

    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True)
    environment: Mapped[str] = mapped_column(String(100), primary_key=True)
    target: Mapped[str] = mapped_column(String(20), primary_key=True)


class DeploymentAttempt(Base):
    """A failed deployment attempt that did not reach a registered version (nothing to link it to)."""

    __tablename__ = "deployment_attempts"
    __table_args__ = (Index("ix_deployment_attempts_model_at", "model", "attempted_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(100), default="")
    source_uri: Mapped[str] = mapped_column(String(1000), default="")
    target: Mapped[str] = mapped_column(String(20))
    environment: Mapped[str] = mapped_column(String(100), default="")
    host_detail: Mapped[str] = mapped_column(String(1000), default="")
    attempted_by: Mapped[str] = mapped_column(String(200), default="")
    attempted_at: Mapped[datetime] = mapped_column(index=True)
    step: Mapped[str] = mapped_column(String(50), default="")
    reason: Mapped[str] = mapped_column(Text, default="")


class AuditEvent(Base):
    """One link of the audit hash chain; ``seq`` counts from 1 without gaps."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100), index=True)
    entity: Mapped[str] = mapped_column(String(500), index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's head (last seq and hash), so that deleting the newest events is detected too."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class ApiToken(Base):
    """A bearer token, stored as its SHA-256 only."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
