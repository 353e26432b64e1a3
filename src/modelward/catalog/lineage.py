"""Lineage of a model version: upstream (datasets, code, artifact, signer) and downstream (deployments)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelward.catalog import schema as s
from modelward.catalog.db import Catalog
from modelward.catalog.graphs import GraphMemberRef, graphs_of, members_of
from modelward.catalog.inputs import DatasetRef
from modelward.catalog.records import find_version
from modelward.catalog.views import DeploymentView, deployment_view


class Upstream(BaseModel):
    """What a version came from."""

    model_config = ConfigDict(frozen=True)

    datasets: list[DatasetRef]
    code_repository: str
    code_commit: str
    artifact_uri: str
    artifact_digest: str
    signing_key_id: str
    registry_url: str


class GraphUse(BaseModel):
    """A graph version that serves this version at one of its MODEL nodes, and its deployments."""

    model_config = ConfigDict(frozen=True)

    graph: str
    version: str
    node: str
    deployments: list[DeploymentView]


class Lineage(BaseModel):
    """A model version between what produced it and where it runs.

    For a graph's version, ``members`` are the versions its MODEL nodes serve (each an edge to
    every deployment of the graph); for a member, ``graphs`` are the graphs that serve it.
    """

    model_config = ConfigDict(frozen=True)

    model: str
    version: str
    stage: str
    upstream: Upstream
    downstream: list[DeploymentView]
    graph: dict[str, Any] | None = None
    members: list[GraphMemberRef] = []
    graphs: list[GraphUse] = []

    def edges(self) -> list[dict[str, Any]]:
        """The graph as ``{"from", "to", "kind"}`` edges: dataset -> version -> deployment."""
        node = f"model_version:{self.model}@{self.version}"
        found = [{"from": f"dataset:{d.name}@{d.digest}", "to": node, "kind": "trained"}
                 for d in self.upstream.datasets]
        if self.upstream.code_repository:
            code = f"code:{self.upstream.code_repository}@{self.upstream.code_commit}"
            found.append({"from": code, "to": node, "kind": "built"})
        for dep in self.downstream:
            found.append({"from": node, "to": f"deployment:{dep.id}", "kind": "deployed"})
            if dep.replaced_id:
                found.append({"from": f"deployment:{dep.replaced_id}", "to": f"deployment:{dep.id}",
                              "kind": "replaced_by"})
        found += self._graph_edges(node)
        return found

    def _graph_edges(self, node: str) -> list[dict[str, Any]]:
        """member version -> graph version (``part_of``) and -> each deployment of the graph (``deployed``)."""
        found: list[dict[str, Any]] = []
        for member in self.members:
            source = f"model_version:{member.model}@{member.version}"
            found.append({"from": source, "to": node, "kind": "part_of", "node": member.node})
            found += [{"from": source, "to": f"deployment:{d.id}", "kind": "deployed", "node": member.node}
                      for d in self.downstream]
        for use in self.graphs:
            found.append({"from": node, "to": f"model_version:{use.graph}@{use.version}", "kind": "part_of",
                          "node": use.node})
            found += [{"from": node, "to": f"deployment:{d.id}", "kind": "deployed", "node": use.node}
                      for d in use.deployments]
        return found


def lineage(catalog: Catalog, *, name: str, version: str) -> Lineage:
    """The lineage of ``name@version`` (``NotFound`` when there is no such version)."""
    with catalog.read() as session:
        row = find_version(session, name, version)
        deployments = session.scalars(select(s.Deployment).where(s.Deployment.version_id == row.id)
                                      .order_by(s.Deployment.deployed_at)).all()
        upstream = Upstream(
            datasets=[DatasetRef(name=d.name, uri=d.uri, digest=d.digest) for d in row.datasets],
            code_repository=row.code_repository, code_commit=row.code_commit,
            artifact_uri=row.artifact_uri, artifact_digest=row.artifact_digest,
            signing_key_id=row.signing_key_id, registry_url=row.registry_url,
        )
        manifest = row.manifest or {}
        return Lineage(model=name, version=version, stage=row.stage, upstream=upstream,
                       downstream=[deployment_view(d, name, version) for d in deployments],
                       graph=manifest.get("graph") if isinstance(manifest.get("graph"), dict) else None,
                       members=members_of(session, row.id), graphs=_uses(session, row.id))


def _uses(session: Session, version_id: int) -> list[GraphUse]:
    found = []
    for node, graph in graphs_of(session, version_id):
        rows = session.scalars(select(s.Deployment).where(s.Deployment.version_id == graph.id)
                               .order_by(s.Deployment.deployed_at)).all()
        name = graph.model.qualified_name
        found.append(GraphUse(graph=name, version=graph.version, node=node,
                              deployments=[deployment_view(d, name, graph.version) for d in rows]))
    return found


def render_text(graph: Lineage) -> str:
    """The lineage as indented text, upstream above the version and downstream below it."""
    up = graph.upstream
    lines = ["upstream"]
    lines += [f"  dataset   {d.name}  {d.uri}  {d.digest}" for d in up.datasets] or ["  dataset   (none recorded)"]
    lines.append(f"  code      {up.code_repository or '-'} @ {up.code_commit or '-'}")
    if graph.graph is not None:  # a graph's version: its members are the signed artifacts
        lines.append(f"  graph     {graph.graph.get('name', '-')} ({graph.graph.get('type', '-')} at the root), "
                     f"configuration {up.artifact_digest or '-'}")
        lines += [f"  member    node {m.node}: {m.model}@{m.version}" for m in graph.members]
    else:
        lines.append(f"  artifact  {up.artifact_uri or '-'}  {up.artifact_digest or '-'}")
        lines.append(f"  signed by {up.signing_key_id or '(unsigned)'}")
    lines.append(f"{graph.model}@{graph.version}  [{graph.stage}]")
    lines.append("downstream")
    for dep in graph.downstream:
        replaced = f"  replaces {dep.replaced_id}" if dep.replaced_id else ""
        lines.append(f"  deployment {dep.id}  {dep.status}  {dep.target}/{dep.environment or '-'}  "
                     f"{dep.endpoint_url or dep.host_detail or '-'}  {dep.deployed_at:%Y-%m-%d %H:%M}{replaced}")
    if not graph.downstream:
        lines.append("  (not deployed)")
    for use in graph.graphs:
        lines.append(f"  in graph {use.graph}@{use.version} (node {use.node}): "
                     + (", ".join(f"deployment {d.id} {d.status}" for d in use.deployments) or "not deployed"))
    return "\n".join(lines)
