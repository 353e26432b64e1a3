"""A graph deployed by the orchestrator on the local target: every member package through every step,
one server for the whole graph, the graph and its member versions in the catalog."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from modelward import catalog as cat
from modelward.deploy import DeploymentSpec, load_deployment
from modelward.errors import ArtifactError, ConfigurationError, NotFound, ValidationFailed
from modelward.graph.state import SqliteStateStore
from tests.services.test_orchestrator import World, url_of, world  # noqa: F401  (the fixture)

GRAPH = Path(__file__).resolve().parent.parent / "data" / "deploy" / "graph" / "deployment.yaml"
pytestmark = pytest.mark.integration


def graph_spec(champion: Path, challenger: Path, **changes: object) -> DeploymentSpec:
    spec = load_deployment(GRAPH)
    return spec.model_copy(update={"packages": {"champion": str(champion), "challenger": str(challenger)},
                                   **changes})


def test_a_graph_deploys_in_one_server_and_learns_from_feedback(world: World) -> None:  # noqa: F811
    outcome = world.orchestrator.deploy(graph_spec(world.package("1.0.0", slope=2.0),
                                                   world.package("2.0.0", slope=3.0)))
    assert [s.name for s in outcome.steps] == ["stage", "verify", "validate", "register", "serve", "record"]
    assert "champion: toy_model@1.0.0 signed by test-key" in outcome.steps[1].detail
    assert "challenger: 2 known cases match" in outcome.steps[2].detail
    view = outcome.deployment
    assert (view.model, view.version, view.status) == ("toy_graph", "1.0.0", "running")
    url = url_of(world, view.id)
    rewards = [0.0, 0.0]
    for index in range(12):
        answer = httpx.post(f"{url}/api/models/toy_graph/prediction", json={"x": 1.0},
                            headers={"X-Request-ID": f"r{index}"}, timeout=10)
        assert answer.status_code == 200, answer.text
        route = json.loads(answer.headers["x-modelward-meta"])["routing"]["bandit"]
        assert answer.json()["y"] == [3.0, 4.0][route]  # champion 2x+1, challenger 3x+1
        rewards[route] += 1.0 if route == 1 else 0.0
        reward = 1.0 if route == 1 else 0.0
        fed = httpx.post(f"{url}/api/models/toy_graph/feedback", json={"reward": reward, "request_id": f"r{index}"},
                         timeout=10)
        assert fed.status_code == 200, fed.text
    [state] = list(world.root.rglob("graph-state.db"))  # the server's router state: the feedback landed
    arms = SqliteStateStore(state).arms("toy_graph", "bandit", 2)
    assert sum(a.n for a in arms) == 12 and [a.total for a in arms] == rewards
    lineage = cat.lineage(world.catalog, name="toy_graph", version="1.0.0")
    assert lineage.graph is not None and lineage.graph["name"] == "bandit"
    assert [(m.node, m.model, m.version) for m in lineage.members] == [
        ("challenger", "toy_model", "2.0.0"), ("champion", "toy_model", "1.0.0")]
    member = cat.lineage(world.catalog, name="toy_model", version="2.0.0")
    assert [d.id for use in member.graphs for d in use.deployments] == [view.id]
    assert cat.get_version(world.catalog, name="toy_model", version="2.0.0").stage == "validated"


def test_a_tampered_member_stops_the_graph_at_verify_naming_the_node(world: World) -> None:  # noqa: F811
    challenger = world.package("2.0.0", slope=3.0)
    data = bytearray(challenger.read_bytes())
    data[-30] ^= 1
    challenger.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=r"verify failed: graph node .challenger.: .*is not signed"):
        world.orchestrator.deploy(graph_spec(world.package("1.0.0", slope=2.0), challenger))
    assert [r.name for r in world.reports if not r.ok] == ["verify"]


def test_a_member_failing_its_known_cases_is_not_registered(world: World) -> None:  # noqa: F811
    bad = world.package("2.0.0", slope=3.0, cases=[{"input": {"x": 1.0}, "output": {"y": 99.0}}])
    with pytest.raises(ValidationFailed, match="validate failed"):
        world.orchestrator.deploy(graph_spec(world.package("1.0.0", slope=2.0), bad))
    with pytest.raises(NotFound):
        cat.get_version(world.catalog, name="toy_model", version="2.0.0")


def test_a_graph_file_names_its_packages_by_model_node(tmp_path: Path) -> None:
    from modelward.deploy import parse_deployment

    document = load_deployment(GRAPH).model_dump(mode="json")
    with pytest.raises(ConfigurationError, match="packages: judge is not a MODEL node of the graph"):
        parse_deployment(document | {"packages": {"judge": "x.zip"}})
    with pytest.raises(ConfigurationError, match="package: a graph's packages are given per MODEL node"):
        parse_deployment(document | {"package": "x.zip"})
    with pytest.raises(ConfigurationError, match=r"give model\.class_path or graph, not both"):
        parse_deployment(document | {"model": {"qualified_name": "g", "class_path": "a.B"}})


def test_rolling_back_a_graph_serves_its_previous_members_again(world: World) -> None:  # noqa: F811
    champion = world.package("1.0.0", slope=2.0)
    first = world.orchestrator.deploy(graph_spec(champion, world.package("2.0.0", slope=3.0)))
    spec = graph_spec(champion, world.package("3.0.0", slope=5.0))
    second = world.orchestrator.deploy(spec.model_copy(update={"model": spec.model.model_copy(
        update={"version": "1.1.0"})}))
    assert second.deployment.replaced_id == first.deployment.id
    rolled = world.orchestrator.rollback("toy-graph")
    assert (rolled.deployment.model, rolled.deployment.version) == ("toy_graph", "1.0.0")
    url = url_of(world, rolled.deployment.id)
    answers = {httpx.post(f"{url}/api/models/toy_graph/prediction", json={"x": 1.0}, timeout=10).json()["y"]
               for _ in range(16)}
    assert answers <= {3.0, 4.0}  # champion 1.0.0 and challenger 2.0.0, never 3.0.0's 6.0
