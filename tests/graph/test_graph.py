"""A graph as one model, in process: one route per request, denials, shadows that fail, feedback checks."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from modelward.errors import RequestError
from modelward.graph import InferenceGraph
from modelward.model import Feedback, PredictionNotAvailable
from modelward.services.config import parse_config
from modelward.services.dataplane import DataPlane
from modelward.services.inference import FeedbackRequest, InferenceRequest, InferenceResult
from modelward.services.loader import build_models

ECHO = "tests.fixtures.EchoModel"


def plane_of(graph_yaml: str, data_dir: Path, extra: str = "") -> tuple[DataPlane, InferenceGraph]:
    config = parse_config(f"models:\n  - name: g\n{extra}    graph: {graph_yaml}\n")
    plane = DataPlane()
    loaded = build_models(config, data_dir=data_dir)[0]
    plane.add(loaded)
    assert isinstance(loaded.model, InferenceGraph)
    return plane, loaded.model


def infer(plane: DataPlane, inputs: list[dict[str, Any]], many: bool = False,
          rid: str | None = None) -> InferenceResult:
    return asyncio.run(plane.infer(InferenceRequest(model="g", inputs=inputs, many=many, request_id=rid)))


def two(kind: str, first: str = ECHO, second: str = ECHO, options: str = "") -> str:
    return (f"{{name: n, type: {kind}, {options} children: [{{name: a, type: MODEL, class_path: {first}}}, "
            f"{{name: b, type: MODEL, class_path: {second}, configuration: {{factor: 3}}}}]}}")


def test_a_request_with_many_inputs_takes_one_route(tmp_path: Path) -> None:
    plane, graph = plane_of(two("ROUTER", options="implementation: AB_TEST,"), tmp_path)
    for n in range(10):
        result = infer(plane, [{"value": v} for v in range(1, 7)], many=True, rid=f"many-{n}")
        arm = result.meta["routing"]["n"]
        assert [o.doubled for o in result.outputs] == [v * (2, 3)[arm] for v in range(1, 7)]
        assert graph.store.route("g", f"many-{n}") == {"n": arm}
    graph.close()


def test_a_combiner_answers_a_childs_denial(tmp_path: Path) -> None:
    detector = ("{name: d, type: OUTLIER_DETECTOR, class_path: tests.fixtures.ThresholdDetector, configuration: "
                "{threshold: 10, refuse: true}, children: [{name: m, type: MODEL, class_path: " + ECHO + "}]}")
    plane, graph = plane_of("{name: avg, type: COMBINER, implementation: AVERAGE, children: ["
                            f"{{name: a, type: MODEL, class_path: {ECHO}}}, {detector}]}}", tmp_path)
    assert infer(plane, [{"value": 5}]).outputs[0].doubled == 10.0
    denied = infer(plane, [{"value": 50}]).outputs[0]
    assert isinstance(denied, PredictionNotAvailable) and denied.messages == ["input is an outlier (score 5.00)"]
    assert "PredictionNotAvailable" in json.dumps(graph.output_schema.model_json_schema())
    graph.close()


def test_a_failing_shadow_is_logged_and_never_changes_the_answer(tmp_path: Path) -> None:
    log = tmp_path / "shadow.jsonl"
    plane, graph = plane_of(two("SHADOW", second="tests.fixtures.RaisingModel",
                                options=f"configuration: {{log: {log}, wait: true}},"), tmp_path)
    result = infer(plane, [{"value": 2}], rid="s-1")
    assert result.outputs[0].doubled == 4.0 and result.meta == {}
    record = json.loads(log.read_text())
    assert record["request_id"] == "s-1" and record["error"].startswith("ValueError: internal model failure")
    assert ("modelward_graph_shadow_total", "Mirrored requests by shadow and outcome.",
            {"model_name": "g", "node": "n", "shadow": "b", "outcome": "error"}, 1) in graph.metric_samples()
    graph.close()


def test_shadow_routers_record_no_route_for_the_live_request(tmp_path: Path) -> None:
    inner = two("ROUTER", options="implementation: AB_TEST,").replace("name: n,", "name: inner,").replace(
        "name: a,", "name: x,").replace("name: b,", "name: y,")
    plane, graph = plane_of(f"{{name: s, type: SHADOW, configuration: {{wait: true, log: {tmp_path / 'l.jsonl'}}}, "
                            f"children: [{{name: live, type: MODEL, class_path: {ECHO}}}, {inner}]}}", tmp_path)
    infer(plane, [{"value": 1}], rid="live-1")
    assert graph.store.route("g", "live-1") == {}
    assert "routing" in json.loads((tmp_path / "l.jsonl").read_text())["meta"]
    graph.close()


def test_feedback_checks_rewards_against_the_router_and_reaches_only_the_route(tmp_path: Path) -> None:
    recorder = "tests.fixtures.FeedbackRecorder"
    graph_yaml = ("{name: bandit, type: ROUTER, implementation: THOMPSON_SAMPLING, children: ["
                  f"{{name: a, type: MODEL, class_path: {recorder}, configuration: {{path: {tmp_path / 'a'}}}}}, "
                  f"{{name: b, type: MODEL, class_path: {recorder}, configuration: {{path: {tmp_path / 'b'}}}}}]}}")
    plane, graph = plane_of(graph_yaml, tmp_path)
    with pytest.raises(RequestError, match=r"router 'bandit': a Beta-Bernoulli router learns from rewards in \[0, 1\]"):
        graph.receive_feedback(Feedback(model="g", reward=3.0, routing={"bandit": 0}))
    outcome = asyncio.run(plane.feedback(FeedbackRequest(model="g", reward=1.0, routing={"bandit": 1})))
    assert outcome.route == "bandit=b" and outcome.delivered_to == ["InferenceGraph"]
    assert (tmp_path / "b").read_text() == "2.0 1.0\n" and not (tmp_path / "a").exists()
    assert graph.store.arms("g", "bandit", 2)[1].n == 1
    graph.close()


def test_a_seldon_class_serves_as_a_node(tmp_path: Path) -> None:
    feedback = tmp_path / "seldon.jsonl"
    plane, graph = plane_of(f"{{name: m, type: MODEL, class_path: tests.fixtures.SeldonStyleModel, "
                            f"configuration: {{feedback_file: {feedback}}}}}", tmp_path)
    assert graph.input_schema is not None
    result = infer(plane, [{"X": [1, 2], "names": ["a", "b"]}])
    assert result.outputs[0].data == [2, 4]
    asyncio.run(plane.feedback(FeedbackRequest(model="g", request={"data": {"names": ["a", "b"], "ndarray": [[1, 2]]}},
                                               reward=0.5)))
    assert json.loads(feedback.read_text())["reward"] == 0.5  # send_feedback of the class at the node
    graph.close()


def test_closing_waits_for_background_shadows(tmp_path: Path) -> None:
    log = tmp_path / "bg.jsonl"
    plane, graph = plane_of(two("SHADOW", second="tests.fixtures.SleepyModel",
                                options=f"configuration: {{log: {log}}},"), tmp_path)
    started = time.perf_counter()
    assert infer(plane, [{"value": 200}]).outputs[0].doubled == 400.0
    assert time.perf_counter() - started < 0.15  # the 200 ms shadow runs in the background
    graph.close()
    assert json.loads(log.read_text())["output"]["doubled"] == 600.0


def test_the_outlier_step_guards_a_router_over_two_versions_of_one_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelward.graph.outlier import FittedFor
    from modelward.graph.outlier_fit import fit_detector
    from tests.graph.outlier_fixtures import ABSURD, NORMAL, Applicant, training_rows

    path = fit_detector(training_rows(), Applicant, model=FittedFor(qualified_name="quote_model")).write(
        tmp_path / "outlier_detector.json")
    monkeypatch.setenv("MODELWARD_ALLOW_UNSIGNED", "true")
    quote = "tests.graph.outlier_fixtures.QuoteModel"
    plane, graph = plane_of(
        f"{{name: outliers, type: OUTLIER_DETECTOR, class_path: modelward.graph.outlier.OutlierDetector, "
        f"configuration: {{detector: '{path}', mode: refuse}}, children: [{{name: bandit, type: ROUTER, "
        f"implementation: THOMPSON_SAMPLING, children: [{{name: champion, type: MODEL, class_path: {quote}}}, "
        f"{{name: challenger, type: MODEL, class_path: {quote}}}]}}]}}", tmp_path)
    normal = infer(plane, [NORMAL], rid="q-1")
    assert normal.outputs[0].price > 0
    assert set(normal.meta) == {"outlier", "routing"} and normal.meta["outlier"]["is_outlier"] is False
    refused = infer(plane, [ABSURD], rid="q-2").outputs[0]
    assert isinstance(refused, PredictionNotAvailable) and refused.status_code == 422
    assert graph.store.route("g", "q-2") == {}  # refused in front of the router: no route taken
    graph.close()
