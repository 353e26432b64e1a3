"""A graph's version, its member versions by node, and the lineage and exports that follow from them."""

from __future__ import annotations

import pytest

from modelward import catalog as c
from modelward.catalog import exports
from modelward.catalog.lineage import render_text
from modelward.errors import Conflict, NotFound
from tests.catalog.conftest import model_info, version_info

TREE = {"name": "bandit", "type": "ROUTER", "implementation": "THOMPSON_SAMPLING", "children": [
    {"name": "champion", "type": "MODEL"}, {"name": "challenger", "type": "MODEL"}]}
MEMBERS = (c.GraphMemberRef(node="champion", model="insurance_charges_model", version="0.1.0"),
           c.GraphMemberRef(node="challenger", model="insurance_charges_model", version="0.2.0"))


def _graph(catalog: c.Catalog, members: tuple[c.GraphMemberRef, ...] = MEMBERS) -> c.DeploymentView:
    for version in ("0.1.0", "0.2.0"):
        c.register_version(catalog, model=model_info(), version=version_info(version, f"sha256:{version}"),
                           actor="t")
    graph = c.VersionInfo(version="1.0.0", artifact_digest="sha256:graph", manifest={"graph": TREE})
    c.register_graph(catalog, model=c.ModelInfo(qualified_name="insurance_graph", owner="greg"), version=graph,
                     members=members, actor="t")
    return c.record_deployment(catalog, info=c.DeploymentInfo(
        model="insurance_graph", version="1.0.0", target=c.Target.LOCAL, endpoint_url="http://127.0.0.1:1/g"),
        actor="t")


def test_a_graph_deployment_records_its_tree_and_every_member_version(catalog: c.Catalog) -> None:
    dep = _graph(catalog)
    graph = c.lineage(catalog, name="insurance_graph", version="1.0.0")
    assert graph.graph == TREE
    assert [(m.node, m.version) for m in graph.members] == [("challenger", "0.2.0"), ("champion", "0.1.0")]
    edges = graph.edges()
    for version, node in (("0.1.0", "champion"), ("0.2.0", "challenger")):
        member = f"model_version:insurance_charges_model@{version}"
        assert {"from": member, "to": f"deployment:{dep.id}", "kind": "deployed", "node": node} in edges
        assert {"from": member, "to": "model_version:insurance_graph@1.0.0", "kind": "part_of",
                "node": node} in edges


def test_a_member_versions_lineage_reaches_the_graphs_deployment(catalog: c.Catalog) -> None:
    dep = _graph(catalog)
    member = c.lineage(catalog, name="insurance_charges_model", version="0.2.0")
    assert member.downstream == []  # not deployed on its own
    [use] = member.graphs
    assert (use.graph, use.version, use.node) == ("insurance_graph", "1.0.0", "challenger")
    assert [d.id for d in use.deployments] == [dep.id]
    assert {"from": "model_version:insurance_charges_model@0.2.0", "to": f"deployment:{dep.id}",
            "kind": "deployed", "node": "challenger"} in member.edges()
    assert "in graph insurance_graph@1.0.0 (node challenger)" in render_text(member)


def test_a_graph_version_keeps_its_members(catalog: c.Catalog) -> None:
    _graph(catalog)
    graph = c.VersionInfo(version="1.0.0", artifact_digest="sha256:graph", manifest={"graph": TREE})
    swapped = (MEMBERS[0].model_copy(update={"version": "0.2.0"}), MEMBERS[1])
    with pytest.raises(Conflict, match="already registered with other member versions"):
        c.register_graph(catalog, model=c.ModelInfo(qualified_name="insurance_graph"), version=graph,
                         members=swapped, actor="t")
    c.register_graph(catalog, model=c.ModelInfo(qualified_name="insurance_graph"), version=graph,
                     members=MEMBERS, actor="t")  # the same again: nothing to do


def test_an_unregistered_member_is_refused(catalog: c.Catalog) -> None:
    with pytest.raises(NotFound, match=r"no version '9\.9\.9'"):
        _graph(catalog, (c.GraphMemberRef(node="champion", model="insurance_charges_model", version="9.9.9"),))


def test_exports_name_every_member_as_an_input_of_the_graphs_deployment(catalog: c.Catalog) -> None:
    dep = _graph(catalog)
    entities = exports.atlas_entities(catalog)["entities"]
    [process] = [e for e in entities if e["typeName"] == "model" and e["attributes"]["qualifiedName"].endswith(
        f"#{dep.id}")]
    names = [ref["uniqueAttributes"]["qualifiedName"] for ref in process["attributes"]["inputs"]]
    assert names == ["insurance_graph@1.0.0", "insurance_charges_model@0.2.0", "insurance_charges_model@0.1.0"]
    known = {(e["typeName"], e["attributes"]["qualifiedName"]) for e in entities}
    assert all(("model_version", name) in known for name in names)  # each referenced entity is in the body
    [event] = [e for e in exports.openlineage_events(catalog) if e["job"]["name"] == "deploy.insurance_graph"]
    inputs = [i["name"] for i in event["inputs"]]
    assert "/icm-0.1.0.zip" in inputs and "/icm-0.2.0.zip" in inputs
