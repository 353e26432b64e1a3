"""Inference graphs in a real service (`modelward serve` on loopback), through every route a client uses."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Server, child_env, start_server, stop, wait_started, write_config
from tests.policy.helpers import write_policy

pytestmark = pytest.mark.integration
ECHO = "tests.fixtures.EchoModel"


def two(kind: str, options: str, first: str = "", second: str = "") -> str:
    """A node of ``kind`` over two echo models (factor 2 and 3), named ``a`` and ``b``."""
    a = first or f"{{name: a, type: MODEL, class_path: {ECHO}}}"
    b = second or f"{{name: b, type: MODEL, class_path: {ECHO}, configuration: {{factor: 3}}}}"
    return f"{kind}\n      {options}\n      children:\n        - {a}\n        - {b}\n"


def payload_log(folder: Path) -> str:
    """Endpoint-level decorators: the payload log around the whole graph."""
    return ("    decorators:\n      - class_path: modelward.decorators.PayloadLogDecorator\n"
            f"        configuration: {{journal: {folder / 'journal'}, sink: {{type: jsonl, path: "
            f"{folder / 'payloads.jsonl'}}}}}\n")


def endpoint(name: str, root: str, extra: str = "") -> str:
    return f"  - name: {name}\n{extra}    graph:\n      {root}"


def service_config(folder: Path) -> str:
    policies = write_policy(folder / "policies")
    recorder = "tests.fixtures.FeedbackRecorder"
    return "service_title: graphs\ndefault_model: bandit\nmodels:\n" + "".join([
        endpoint("ab", two("name: split\n      type: ROUTER\n      implementation: AB_TEST",
                           "configuration: {weights: [0.8, 0.2], seed: 3}")),
        endpoint("sticky", two("name: split\n      type: ROUTER\n      implementation: AB_TEST",
                               "configuration: {sticky_by: 'field:label'}")),
        endpoint("bandit", extra=payload_log(folder), root=two(
            "name: bandit\n      type: ROUTER\n      implementation: EPSILON_GREEDY",
            "configuration: {epsilon: 0}",
            f"{{name: a, type: MODEL, class_path: {recorder}, configuration: {{path: {folder / 'a.txt'}}}}}",
            f"{{name: b, type: MODEL, class_path: {recorder}, configuration: {{path: {folder / 'b.txt'}, "
            "factor: 3}}")),
        endpoint("pipeline", "name: pre\n      type: TRANSFORMER\n      class_path: tests.fixtures.OffsetTransformer\n"
                 "      children:\n        - name: post\n          type: OUTPUT_TRANSFORMER\n"
                 "          class_path: tests.fixtures.LabelOutputTransformer\n          children:\n"
                 f"            - {{name: m, type: MODEL, class_path: {ECHO}}}\n"),
        endpoint("average", two("name: avg\n      type: COMBINER\n      implementation: AVERAGE", "")),
        endpoint("weighted", two("name: w\n      type: COMBINER\n      implementation: WEIGHTED_AVERAGE",
                                 "configuration: {weights: [3, 1]}")),
        endpoint("vote", "name: vote\n      type: COMBINER\n      implementation: MAJORITY_VOTE\n      children:\n"
                 f"        - {{name: a, type: MODEL, class_path: {ECHO}, configuration: {{factor: 3}}}}\n"
                 f"        - {{name: b, type: MODEL, class_path: {ECHO}}}\n"
                 f"        - {{name: c, type: MODEL, class_path: {ECHO}, configuration: {{factor: 3}}}}\n"),
        endpoint("custom", two("name: mx\n      type: COMBINER\n      class_path: tests.fixtures.MaxCombiner", "")),
        endpoint("labelled", two("name: pick\n      type: ROUTER\n      class_path: tests.fixtures.LabelRouter", "")),
        endpoint("shadowed", two("name: mirror\n      type: SHADOW",
                                 f"configuration: {{log: {folder / 'shadow.jsonl'}}}")),
        endpoint("guarded", "name: detect\n      type: OUTLIER_DETECTOR\n"
                 "      class_path: tests.fixtures.ThresholdDetector\n"
                 "      configuration: {threshold: 500, refuse: true}\n      children:\n"
                 f"        - name: m\n          type: MODEL\n          class_path: {ECHO}\n          decorators:\n"
                 "            - class_path: modelward.policy.PolicyDecorator\n"
                 f"              configuration: {{package: echo_policy, policies: [{policies}]}}\n"),
    ])


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    folder = tmp_path_factory.mktemp("graphs")
    path = write_config(folder / "graphs.yaml", service_config(folder))
    server = start_server(path, folder, env=child_env(MODELWARD_DATA_DIR=str(folder / "data")))
    try:
        assert wait_started(server.url).status_code == 200, server.output()
        yield server, folder
    finally:
        stop(server.process)


def predict(server: Server, model: str, document: dict[str, Any], rid: str | None = None) -> httpx.Response:
    headers = {"x-request-id": rid} if rid else {}
    return httpx.post(f"{server.url}/api/models/{model}/prediction", json=document, headers=headers, timeout=10)


def meta(answer: httpx.Response) -> dict[str, Any]:
    return dict(json.loads(answer.headers["x-modelward-meta"]))


def test_fixed_split_follows_the_weights_and_says_the_route(service: tuple[Server, Path]) -> None:
    server, _ = service
    routes = Counter()
    for n in range(200):
        answer = predict(server, "ab", {"value": 1, "label": f"r{n}"})
        assert answer.status_code == 200, answer.text
        arm = meta(answer)["routing"]["split"]
        assert answer.json()["doubled"] == [2.0, 3.0][arm]
        routes[arm] += 1
    assert 0.7 < routes[0] / 200 < 0.9


def test_sticky_split_keeps_a_key_on_one_child(service: tuple[Server, Path]) -> None:
    server, _ = service
    for label in ("alice", "bob", "carol", "dave"):
        arms = {meta(predict(server, "sticky", {"value": n, "label": label}))["routing"]["split"] for n in range(8)}
        assert len(arms) == 1


def test_seldon_feedback_reaches_the_router_that_chose_and_the_model_on_that_route(
        service: tuple[Server, Path]) -> None:
    server, folder = service
    seldon = f"{server.url}/seldon/bandit/api/v1.0"
    request = {"data": {"names": ["value", "label"], "ndarray": [[1, "x"]]}}
    first = httpx.post(f"{seldon}/predictions", json=request, timeout=10).json()
    assert first["meta"]["routing"] == {"bandit": 0} and first["data"]["ndarray"] == [[2.0, "x"]]
    # the client says the other child would have been right: Seldon's feedback, routing in response.meta
    answer = httpx.post(f"{seldon}/feedback", timeout=10, json={
        "request": request, "response": {**first, "meta": {**first["meta"], "routing": {"bandit": 1}}},
        "reward": 1.0})
    assert answer.status_code == 200, answer.text
    assert answer.json()["meta"]["tags"]["delivered_to"] == ["InferenceGraph"]
    second = httpx.post(f"{seldon}/predictions", json=request, timeout=10).json()
    assert second["meta"]["routing"] == {"bandit": 1} and second["data"]["ndarray"] == [[3.0, "x"]]
    assert (folder / "b.txt").read_text() == "3 1.0\n" and not (folder / "a.txt").exists()

    # native feedback naming only the request id: the route is found in the recorded routes
    answer = predict(server, "bandit", {"value": 1}, rid="native-1")
    assert meta(answer)["routing"] == {"bandit": 1}
    for _ in range(2):
        reply = httpx.post(f"{server.url}/api/models/bandit/feedback", json={"reward": 0.0, "request_id": "native-1"},
                           timeout=10)
        assert reply.status_code == 200, reply.text
    reply = httpx.post(f"{server.url}/api/models/bandit/feedback", json={"reward": 1.0, "routing": {"bandit": 0}},
                       timeout=10)
    assert reply.status_code == 200, reply.text
    assert meta(predict(server, "bandit", {"value": 1}))["routing"] == {"bandit": 0}  # a: 1/1, b: 1/3
    assert (folder / "a.txt").read_text() == "2.0 1.0\n"
    deadline = time.monotonic() + 10  # the payload log ships its journal in the background
    while time.monotonic() < deadline and "native-1" not in _text(folder / "payloads.jsonl"):
        time.sleep(0.05)
    records = [json.loads(line) for line in _text(folder / "payloads.jsonl").splitlines()]
    assert {"request_id": "native-1", "routing": {"bandit": 1}}.items() <= next(
        r for r in records if r["request_id"] == "native-1").items()
    assert (folder / "b.txt").read_text() == "3 1.0\n3 0.0\n3 0.0\n"
    scrape = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert 'modelward_feedback_reward_count{model_name="bandit",route="bandit=b"} 3.0' in scrape
    assert 'modelward_feedback_reward_count{model_name="bandit",route="bandit=a"} 1.0' in scrape


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


@pytest.mark.parametrize(("body", "message"), [
    ({"reward": 1.0}, "does not say which route the prediction took"),
    ({"reward": 1.0, "request_id": "never-seen"}, "does not say which route"),
    ({"reward": 1.0, "routing": {"bandit": 7}}, "feedback.routing.bandit: expected a child index of router "
                                                 "'bandit' (0 to 1), got 7"),
])
def test_feedback_without_a_known_route_is_a_clear_400(service: tuple[Server, Path], body: dict[str, Any],
                                                       message: str) -> None:
    server, _ = service
    reply = httpx.post(f"{server.url}/api/models/bandit/feedback", json=body, timeout=10)
    assert reply.status_code == 400 and message in reply.text


def test_transformers_run_before_and_output_transformers_after_the_model(service: tuple[Server, Path]) -> None:
    server, _ = service
    answer = predict(server, "pipeline", {"value": 1, "label": "x"})
    assert answer.json() == {"doubled": 4.0, "label": "xto"}  # (1 + 1) * 2; t before the model, o after


@pytest.mark.parametrize(("model", "doubled"), [("average", 5.0), ("weighted", 4.5), ("vote", 6.0),
                                                ("custom", 6.0)])
def test_combiners(service: tuple[Server, Path], model: str, doubled: float) -> None:
    server, _ = service
    answer = predict(server, model, {"value": 2})
    assert answer.status_code == 200 and answer.json()["doubled"] == doubled


def test_a_custom_router_and_the_v2_protocol_serve_a_graph_unchanged(service: tuple[Server, Path]) -> None:
    server, _ = service
    assert predict(server, "labelled", {"value": 2, "label": "1"}).json()["doubled"] == 6.0
    v2 = httpx.post(f"{server.url}/v2/models/pipeline/infer", timeout=10, json={"inputs": [
        {"name": "value", "datatype": "FP64", "shape": [1], "data": [1.0]},
        {"name": "label", "datatype": "BYTES", "shape": [1], "data": ["x"]}]})
    assert v2.status_code == 200, v2.text
    outputs = {o["name"]: o["data"] for o in v2.json()["outputs"]}
    assert outputs == {"doubled": [4.0], "label": ["xto"]}


def test_shadow_answers_are_recorded_with_the_request_id_not_returned(service: tuple[Server, Path]) -> None:
    server, folder = service
    answer = predict(server, "shadowed", {"value": 2, "label": "s"}, rid="shadow-1")
    assert answer.json() == {"doubled": 4.0, "label": "s"}
    log = folder / "shadow.jsonl"
    deadline = time.monotonic() + 10
    while not log.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    record = json.loads(log.read_text().splitlines()[0])
    assert record["request_id"] == "shadow-1" and record["shadow"] == "b" and record["node"] == "mirror"
    assert record["output"] == {"doubled": 6.0, "label": "s"} and record["input"] == {"value": 2.0, "label": "s"}


def test_a_node_that_denies_answers_prediction_not_available(service: tuple[Server, Path]) -> None:
    server, _ = service
    ok = predict(server, "guarded", {"value": 50})
    assert ok.status_code == 200 and ok.json()["doubled"] == 100.0
    assert meta(ok)["outlier"] == {"score": 0.1, "outlier": False}
    denied = predict(server, "guarded", {"value": 200})  # the policy at the model node: value above 100
    assert denied.status_code == 200 and denied.json() == {"messages": ["value above 100"]}
    refused = predict(server, "guarded", {"value": 600})  # the detector in front refuses
    assert refused.json() == {"messages": ["input is an outlier (score 1.20)"]}
    seldon = httpx.post(f"{server.url}/seldon/guarded/api/v1.0/predictions", timeout=10,
                        json={"jsonData": {"value": 200}})
    assert "value above 100" in seldon.text


def test_metrics_count_node_calls_and_routes(service: tuple[Server, Path]) -> None:
    server, _ = service
    predict(server, "pipeline", {"value": 1})
    predict(server, "guarded", {"value": 200})
    scrape = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert 'modelward_graph_node_calls_total{model_name="pipeline",node="m",node_type="MODEL"}' in scrape
    assert 'modelward_graph_node_seconds_total{model_name="pipeline",node="pre",node_type="TRANSFORMER"}' in scrape
    assert 'modelward_graph_routes_total{model_name="ab",route="a",router="split"}' in scrape
    # the policy decorator at a node reports through the graph
    assert 'modelward_policy_decisions_total{model="echo_model",package="echo_policy",result="deny",stage="input"}' \
        in scrape


def test_a_graph_with_a_mistake_fails_startup_naming_the_node(tmp_path: Path,
                                                              serve: Callable[..., Server]) -> None:
    config = write_config(tmp_path / "bad.yaml", "models:\n" + endpoint(
        "bad", "name: t\n      type: TRANSFORMER\n      class_path: tests.fixtures.OffsetTransformer\n"
        "      children:\n        - {name: pair, type: MODEL, class_path: tests.fixtures.PairModel}\n"))
    server = serve(config, env=child_env(MODELWARD_DATA_DIR=str(tmp_path / "data")))
    answer = wait_started(server.url)
    assert answer.status_code == 503 and "models failed to load" in answer.text
    assert ("bad.yaml: models[0].graph (node 't'): child 'pair' cannot take this node's answer: PairInput "
            "requires a, b, which EchoInput does not have") in server.output()


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_router_state_is_shared_by_two_servers_and_survives_a_restart(
        backend: str, tmp_path: Path, serve: Callable[..., Server], redis_prefix: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from modelward.graph.state import ArmStats, RedisStateStore, SqliteStateStore, StateStore

    state = (f"{{type: sqlite, path: {tmp_path / 'state.db'}}}" if backend == "sqlite"
             else f"{{type: redis, url: 'redis://127.0.0.1:6379/0', prefix: '{redis_prefix}'}}")
    config = write_config(tmp_path / "bandit.yaml", "models:\n" + endpoint(
        "bandit", two("name: bandit\n      type: ROUTER\n      implementation: EPSILON_GREEDY",
                      "configuration: {epsilon: 0}"), extra=f"    state: {state}\n"))

    def start() -> Server:
        server = serve(config, env=child_env(MODELWARD_DATA_DIR=str(tmp_path / "data")))
        assert wait_started(server.url).status_code == 200, server.output()
        return server

    def feedback(server: Server, body: dict[str, Any]) -> None:
        reply = httpx.post(f"{server.url}/api/models/bandit/feedback", json=body, timeout=30)
        assert reply.status_code == 200, reply.text

    def route(server: Server) -> int:
        return int(meta(predict(server, "bandit", {"value": 1}))["routing"]["bandit"])

    first, second = start(), start()
    assert meta(predict(first, "bandit", {"value": 1}, rid="p1"))["routing"] == {"bandit": 0}
    feedback(second, {"reward": 0.0, "request_id": "p1"})  # the route recorded by the other server
    feedback(first, {"reward": 1.0, "routing": {"bandit": 1}})
    assert route(second) == 1 and route(first) == 1
    with ThreadPoolExecutor(8) as pool:  # both servers update the same arm at once
        list(pool.map(lambda n: feedback([first, second][n % 2], {"reward": 1.0, "routing": {"bandit": 1}}),
                      range(60)))
    store: StateStore = (SqliteStateStore(tmp_path / "state.db") if backend == "sqlite"
                         else RedisStateStore("redis://127.0.0.1:6379/0", prefix=redis_prefix))
    assert store.arms("bandit", "bandit", 2) == [ArmStats(1, 0.0, 0.0), ArmStats(61, 61.0, 61.0)]
    stop(first.process)
    stop(second.process)
    third = start()
    assert route(third) == 1  # learned state kept across the restart
    feedback(third, {"reward": 0.5, "routing": {"bandit": 0}})
    assert store.arms("bandit", "bandit", 2)[0] == ArmStats(2, 0.5, 0.25)
    store.close()
