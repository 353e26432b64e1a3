"""Inference graphs in the catalog: a graph's version and the member versions it serves, by node.

A graph endpoint is registered like any model version (``register_version``): its manifest holds
the node tree, its artifact digest is the digest of the graph's configuration. ``register_graph``
also records, for each MODEL node, the registered version that node serves. A graph version is
immutable: registering it again with other members is a ``Conflict``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelward.catalog import audit
from modelward.catalog import schema as s
from modelward.catalog.db import Catalog
from modelward.catalog.inputs import ModelInfo, VersionInfo
from modelward.catalog.records import find_version, register_version
from modelward.catalog.views import VersionView
from modelward.errors import Conflict


class GraphMemberRef(BaseModel):
    """One MODEL node of a graph and the registered version it serves."""

    model_config = ConfigDict(frozen=True)

    node: str = Field(min_length=1, max_length=100)
    model: str = Field(min_length=1, max_length=200)
    version: str = Field(min_length=1, max_length=100)


def register_graph(catalog: Catalog, *, model: ModelInfo, version: VersionInfo,
                   members: tuple[GraphMemberRef, ...], actor: str) -> tuple[VersionView, bool]:
    """Register the graph's version (as ``register_version``) and its members (``NotFound`` for an
    unregistered member; ``Conflict`` when the version is already registered with other members)."""
    view, created = register_version(catalog, model=model, version=version, actor=actor)
    with catalog.write() as session:
        graph = find_version(session, model.qualified_name, version.version)
        wanted = {m.node: find_version(session, m.model, m.version).id for m in members}
        known = {row.node: row.member_version_id for row in session.scalars(
            select(s.GraphMember).where(s.GraphMember.graph_version_id == graph.id))}
        if known and known != wanted:
            raise Conflict(f"graph {model.qualified_name}@{version.version} is already registered with other "
                           "member versions; register the changed graph as a new version")
        if not known:
            session.add_all(s.GraphMember(graph_version_id=graph.id, node=node, member_version_id=ident)
                            for node, ident in wanted.items())
            audit.append(session, actor=actor, action="graph.members", entity=f"{model.qualified_name}@"
                         f"{version.version}", after={m.node: f"{m.model}@{m.version}" for m in members})
    return view, created


def members_of(session: Session, graph_version_id: int) -> list[GraphMemberRef]:
    """The members of a graph version, by node name (none for a plain model version)."""
    rows = session.scalars(select(s.GraphMember).where(s.GraphMember.graph_version_id == graph_version_id)
                           .order_by(s.GraphMember.node)).all()
    return [GraphMemberRef(node=r.node, model=r.member.model.qualified_name, version=r.member.version)
            for r in rows]


def graphs_of(session: Session, member_version_id: int) -> list[tuple[str, s.ModelVersion]]:
    """The (node, graph version) pairs that serve a member version."""
    rows = session.scalars(select(s.GraphMember).where(s.GraphMember.member_version_id == member_version_id)).all()
    found = []
    for row in rows:
        graph = session.get(s.ModelVersion, row.graph_version_id)
        if graph is not None:
            found.append((row.node, graph))
    return found
