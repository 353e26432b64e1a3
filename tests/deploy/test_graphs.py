"""A graph's manifests: the whole graph in one pod (kubernetes, seldon), or a KServe InferenceGraph.

YAML is parsed back as kubectl would read it; built-in kinds validate against Kubernetes' schemas,
the InferenceGraph against the node schema of KServe's CRD (tests/data/deploy).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from modelward.deploy import DeploymentSpec, RenderInputs, load_deployment, render, to_stream
from modelward.deploy.graphs import dns_label, env_suffix, percentages
from modelward.errors import ConfigurationError
from modelward.services.config import parse_config
from tests.deploy.test_render import as_pod, validate

DATA = Path(__file__).resolve().parent.parent / "data" / "deploy"
GRAPH = DATA / "graph" / "deployment.yaml"
IG_SCHEMA = json.loads((DATA / "kserve_inferencegraph_v1alpha1.json").read_text(encoding="utf-8"))
TOY = "toy_model.ToyModel"


def model(name: str) -> dict[str, Any]:
    return {"name": name, "type": "MODEL", "class_path": TOY,
            "configuration": {"weights": f"${{MODEL_FILES_{env_suffix(name)}}}/weights.json"}}


def spec_with(graph: dict[str, Any], **changes: Any) -> DeploymentSpec:
    spec = load_deployment(GRAPH)
    nodes = [n for n in ("champion", "challenger", "judge") if f"'{n}'" in repr(graph)]
    pods = {n: f"s3://models/{n}.zip" for n in nodes}
    return spec.model_copy(update={"graph": graph, "packages": {n: f"/tmp/{n}.zip" for n in nodes},
                                   "kubernetes": spec.kubernetes.model_copy(update={"packages": pods}), **changes})


def read_back(spec: DeploymentSpec, target: str, inputs: RenderInputs | None = None) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(to_stream(render(spec, target, inputs))))


INPUTS = RenderInputs(node_versions={"champion": "1.0.0", "challenger": "2.0.0"},
                      node_digests={"champion": "sha256:c1", "challenger": "sha256:c2"}, model_version="1.0.0")


def service_document(manifests: list[dict[str, Any]], config_map: str) -> dict[str, Any]:
    found = next(m for m in manifests if m["kind"] == "ConfigMap" and m["metadata"]["name"] == config_map)
    return dict(yaml.safe_load(found["data"]["rest_config.yaml"]))


@pytest.mark.parametrize("target", ["kubernetes", "seldon"])
def test_the_whole_graph_runs_in_one_pod(target: str) -> None:
    manifests = read_back(load_deployment(GRAPH), target, INPUTS)
    document = service_document(manifests, "toy-graph-config")
    [entry] = document["models"]
    assert entry["name"] == "toy_graph" and entry["version"] == "1.0.0"
    assert entry["graph"]["name"] == "bandit" and [c["name"] for c in entry["graph"]["children"]] == [
        "champion", "challenger"]
    workload = manifests[-1] if target == "seldon" else next(m for m in manifests if m["kind"] == "Deployment")
    pod = workload["spec"]["predictors"][0]["componentSpecs"][0] if target == "seldon" else \
        workload["spec"]["template"]
    [container] = pod["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MODEL_PACKAGE_CHAMPION"] == "s3://models/toy-1.0.0.zip"
    assert env["MODEL_PACKAGE_CHALLENGER"] == "s3://models/toy-2.0.0.zip"
    assert env["MODEL_VERSION_CHALLENGER"] == "2.0.0" and "MODEL_PACKAGE" not in env
    notes = pod["metadata"]["annotations"]
    assert json.loads(notes["modelward.io/graph"]) == {
        "name": "bandit", "type": "ROUTER", "implementation": "THOMPSON_SAMPLING",
        "children": [{"name": "champion", "type": "MODEL", "class_path": TOY},
                     {"name": "challenger", "type": "MODEL", "class_path": TOY}]}
    assert json.loads(notes["modelward.io/graph-packages"])["challenger"] == {
        "digest": "sha256:c2", "package": "s3://models/toy-2.0.0.zip", "version": "2.0.0"}
    files = {f"MODEL_FILES_{n}": "/files" for n in ("CHAMPION", "CHALLENGER")}  # the toy reads extracted files
    parse_config(yaml.safe_dump(document), "rest_config.yaml", env=env | files)  # what the server reads
    validate(as_pod(pod["spec"]))
    for manifest in manifests:
        if manifest["apiVersion"] in {"v1", "apps/v1", "policy/v1"}:
            validate(manifest)


def test_seldon_serves_the_graph_as_one_model_node_and_describes_the_tree() -> None:
    [*_, seldon] = read_back(load_deployment(GRAPH), "seldon", INPUTS)
    predictor = seldon["spec"]["predictors"][0]
    assert predictor["graph"] == {"name": "model", "type": "MODEL", "endpoint": {"type": "REST"}, "children": []}
    assert predictor["componentSpecs"][0]["spec"]["containers"][0]["name"] == "model"
    assert json.loads(seldon["metadata"]["annotations"]["modelward.io/graph"])["type"] == "ROUTER"


def test_a_fixed_split_renders_a_kserve_splitter_over_one_inference_service_per_model() -> None:
    split = {"name": "split", "type": "ROUTER", "implementation": "AB_TEST",
             "configuration": {"weights": [3, 1]}, "children": [model("champion"), model("challenger")]}
    manifests = read_back(spec_with(split), "kserve", INPUTS)
    assert [m["kind"] for m in manifests] == ["Namespace", "ConfigMap", "InferenceService", "ConfigMap",
                                              "InferenceService", "InferenceGraph"]
    graph = manifests[-1]
    jsonschema.validate(graph, IG_SCHEMA)
    assert graph["spec"]["nodes"] == {"root": {"routerType": "Splitter", "steps": [
        {"name": "champion", "serviceName": "toy-graph-champion", "weight": 75},
        {"name": "challenger", "serviceName": "toy-graph-challenger", "weight": 25}]}}
    services = [m for m in manifests if m["kind"] == "InferenceService"]
    assert [s["metadata"]["name"] for s in services] == ["toy-graph-champion", "toy-graph-challenger"]
    for service in services:
        name = service["metadata"]["name"]
        document = service_document(manifests, f"{name}-config")
        [entry] = document["models"]
        assert entry["name"] == name  # the model KServe's router calls: /v1/models/{name}:predict
        assert entry["graph"]["type"] == "MODEL" and "children" not in entry["graph"]
        env = {e["name"]: e.get("value") for e in service["spec"]["predictor"]["containers"][0]["env"]}
        node = name.removeprefix("toy-graph-")
        parse_config(yaml.safe_dump(document), "rest_config.yaml", env=env | {f"MODEL_FILES_{node.upper()}": "/f"})
        assert env[f"MODEL_PACKAGE_{node.upper()}"] == f"s3://models/{node}.zip"
        validate(as_pod({k: v for k, v in service["spec"]["predictor"].items()
                         if k not in ("minReplicas", "maxReplicas")}))


def test_chains_and_combiners_map_to_sequences_and_ensembles() -> None:
    graph = {"name": "prepare", "type": "TRANSFORMER", "class_path": TOY, "children": [
        {"name": "vote", "type": "COMBINER", "implementation": "AVERAGE",
         "children": [model("champion"), model("challenger")]}]}
    graph = {"name": "post", "type": "OUTPUT_TRANSFORMER", "class_path": TOY, "children": [graph]}
    [*_, inference_graph] = read_back(spec_with(graph), "kserve")
    jsonschema.validate(inference_graph, IG_SCHEMA)
    nodes = inference_graph["spec"]["nodes"]
    assert nodes["root"] == {"routerType": "Sequence", "steps": [
        {"name": "prepare", "nodeName": "prepare"},
        {"name": "post", "serviceName": "toy-graph-post", "data": "$response"}]}
    assert nodes["prepare"] == {"routerType": "Sequence", "steps": [
        {"name": "prepare", "serviceName": "toy-graph-prepare"},
        {"name": "vote", "nodeName": "vote", "data": "$response"}]}
    assert nodes["vote"]["routerType"] == "Ensemble"
    warning = inference_graph["metadata"]["annotations"]["modelward.io/kserve-warnings"]
    assert "node 'vote'" in warning and "AVERAGE combination is not applied" in warning


@pytest.mark.parametrize(("node", "message"), [
    ({"name": "bandit", "type": "ROUTER", "implementation": "THOMPSON_SAMPLING"},
     "graph \\(node 'bandit'\\): a KServe InferenceGraph cannot express a THOMPSON_SAMPLING bandit"),
    ({"name": "bandit", "type": "ROUTER", "implementation": "EPSILON_GREEDY"}, "EPSILON_GREEDY bandit"),
    ({"name": "sticky", "type": "ROUTER", "implementation": "AB_TEST",
      "configuration": {"sticky_by": "request_id"}}, "a sticky split"),
    ({"name": "mine", "type": "ROUTER", "class_path": "my.Router"}, "a custom router class"),
    ({"name": "mirror", "type": "SHADOW"}, "a SHADOW"),
])
def test_what_kserve_cannot_express_is_refused_naming_the_node(node: dict[str, Any], message: str) -> None:
    graph = {**node, "children": [model("champion"), model("challenger")]}
    with pytest.raises(ConfigurationError, match=message) as raised:
        render(spec_with(graph), "kserve")
    assert "deploy this graph with target kubernetes or seldon" in str(raised.value)


def test_the_examples_outlier_step_in_front_of_a_bandit_is_refused_for_kserve() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "insurance_charges" / "graph_deployment.yaml"
    spec = load_deployment(example)
    with pytest.raises(ConfigurationError, match=r"node 'outliers'.*OUTLIER_DETECTOR"):
        render(spec, "kserve")
    for target in ("kubernetes", "seldon"):  # the whole graph in one pod
        assert read_back(spec, target)[-1]["kind"] in ("PodDisruptionBudget", "SeldonDeployment")


def test_a_node_package_on_this_machine_is_refused_naming_the_node() -> None:
    spec = load_deployment(GRAPH)
    spec = spec.model_copy(update={"kubernetes": spec.kubernetes.model_copy(update={"packages": {}})})
    with pytest.raises(ConfigurationError, match=r"node champion: package '.*champion.zip' is a path on this "
                                                 r"machine.*kubernetes\.packages\.champion: /service/packages/"):
        render(spec, "kubernetes")


def test_names_and_weights() -> None:
    assert dns_label("Model_B.2") == "model-b-2" and env_suffix("model-b.2") == "MODEL_B_2"
    assert percentages([1, 1, 1], 3, {"name": "r"}, "graph") == [34, 33, 33]
    with pytest.raises(ConfigurationError, match="weights must be 2 non-negative numbers"):
        percentages([1], 2, {"name": "r"}, "graph")


def test_decorators_around_a_whole_graph_are_refused_for_kserve() -> None:
    from modelward.deploy import DecoratorRef

    split = {"name": "split", "type": "ROUTER", "implementation": "AB_TEST",
             "children": [model("champion"), model("challenger")]}
    spec = spec_with(split, decorators=[DecoratorRef(class_path="modelward.policy.PolicyDecorator")])
    with pytest.raises(ConfigurationError, match="decorators around the whole graph cannot run in a KServe"):
        render(spec, "kserve")
    assert read_back(spec, "kubernetes")  # in one pod they wrap the graph, as locally
