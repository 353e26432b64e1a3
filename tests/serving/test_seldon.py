"""Seldon v1 on a real `modelward serve`: request and feedback bodies copied from Seldon's documentation."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, Server, child_env, start_server, stop, wait_started, write_config

pytestmark = pytest.mark.integration

DATA = ROOT / "tests" / "data" / "seldon"

CONFIG = """
default_model: pair_model
models:
  - class_path: tests.fixtures.PairModel
    decorators:
      - class_path: tests.fixtures.LearningDecorator
  - class_path: tests.fixtures.SeldonStyleModel
    qualified_name: seldon_style
    configuration: {{feedback_file: "{feedback}"}}
  - class_path: tests.fixtures.WeatherModel
    kind: seldon
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("seldon")
    config = write_config(workdir / "svc.yaml", CONFIG.format(feedback=workdir / "component-feedback.jsonl"))
    started = start_server(config, workdir, env=child_env(MODELWARD_FEEDBACK_LOG=str(workdir / "journal.jsonl")))
    try:
        assert wait_started(started.url).status_code == 200, started.output()
        yield started
    finally:
        stop(started.process)


def body(name: str) -> bytes:
    return (DATA / name).read_bytes()


def post(server: Server, path: str, content: bytes, content_type: str = "application/json") -> httpx.Response:
    return httpx.post(server.url + path, content=content, headers={"content-type": content_type}, timeout=10)


def test_tensor_request_from_the_docs_answers_a_tensor(server: Server) -> None:
    answer = post(server, "/api/v1.0/predictions", body("external_prediction_tensor.json"))
    assert answer.status_code == 200, answer.text
    document = answer.json()
    # rows [0, 0] and [1, 1] as a and b; outputs total and product, as a tensor because a tensor came in
    assert document["data"] == {"names": ["total", "product"], "tensor": {"shape": [2, 2], "values": [0, 0, 2, 1]}}
    meta = document["meta"]
    assert len(meta["puid"]) == 32 and answer.headers["x-request-id"] == meta["puid"]
    assert meta["requestPath"] == {"pair_model": "pair_model:0.3.0"}
    assert meta["tags"] == {"rewards_seen": 0}  # the chain's metadata (LearningDecorator)


def test_ndarray_with_names_and_tags_echoed(server: Server) -> None:
    answer = post(server, "/api/v1.0/predictions", body("metadata_ndarray.json"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"] == {"names": ["total", "product"], "ndarray": [[3.0, 2.0], [7.0, 12.0]]}
    message = {"data": {"names": ["b", "a"], "ndarray": [[2, 10]]}, "meta": {"puid": "p-1", "tags": {"who": "me"}}}
    answer = post(server, "/api/v1.0/predictions", json.dumps(message).encode())
    assert answer.json()["data"]["ndarray"] == [[12.0, 20.0]]
    assert answer.json()["meta"]["puid"] == "p-1"
    assert answer.json()["meta"]["tags"]["who"] == "me"


def test_ndarray_without_names_uses_the_schema_field_order(server: Server) -> None:
    answer = post(server, "/api/v1.0/predictions", b'{"data": {"ndarray": [[1, 2]]}}')
    assert answer.json()["data"]["ndarray"] == [[3.0, 2.0]]


def test_form_body_from_the_docs(server: Server) -> None:
    answer = post(server, "/api/v1.0/predictions", body("upgrading_form.txt").strip(),
                  "application/x-www-form-urlencoded")
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["ndarray"] == [[3.0, 2.0]]


def test_json_data_is_one_document(server: Server) -> None:
    answer = post(server, "/predict", b'{"jsonData": {"a": 1, "b": 4}}')
    assert answer.status_code == 200, answer.text
    assert answer.json()["jsonData"] == {"total": 5.0, "product": 4.0}


@pytest.mark.parametrize(("content", "status", "fragment"), [
    (b'{"data": {"names": ["a", "b"], "ndarray": [[1]]}}', 400, "data.ndarray[0]: expected 2 values (a, b"),
    (b'{"data": {"tensor": {"shape": [2, 2], "values": [1]}}}', 400, "shape [2, 2] holds 4 values, got 1"),
    (b'{"strData": "some test input"}', 400, "strData: model 'pair_model' takes PairInput objects"),
    (b'{"binData": "@@@"}', 400, "binData: not valid base64"),
    (b'{"data": {"names": ["a", "b"], "ndarray": [[1, -2]]}}', 422, "[0].b"),
    (b'{"colour": 1}', 400, "unknown key(s) colour"),
    (b'{"data": ', 400, "invalid JSON"),
    (b'{"data": {"ndarray": [[1, 2]]}, "meta": {"tags": [1]}}', 400, "meta.tags: expected an object"),
    (b'{"data": {"ndarray": [[1, 2]]}, "meta": {"puid": 7}}', 400, "meta.puid: expected a string"),
    (b'{"data": {"tensor": {"shape": [1, 1, 2], "values": [1, 2]}}}', 400, "more than 2 dimensions"),
])
def test_bad_bodies_are_seldon_failures(server: Server, content: bytes, status: int, fragment: str) -> None:
    answer = post(server, "/api/v1.0/predictions", content)
    assert answer.status_code == status
    failure = answer.json()["status"]
    assert failure["status"] == "FAILURE" and failure["code"] == status
    assert fragment in failure["info"]


def test_unsupported_media_type(server: Server) -> None:
    answer = post(server, "/api/v1.0/predictions", b"a,b\n1,2\n", "text/csv")
    assert answer.status_code == 415
    info = answer.json()["status"]["info"]
    assert "Content-Type must be application/json or application/x-www-form-urlencoded, got text/csv" in info


def test_seldon_class_served_unchanged(server: Server) -> None:
    answer = post(server, "/seldon/seldon_style/api/v1.0/predictions", body("batch_tags.json"))
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert document["data"] == {"names": ["t:0", "t:1", "t:2"], "ndarray": [[2, 4, 6]]}
    assert document["meta"]["tags"] == {"customer-id": 0, "model": "seldon-style", "loaded": True,
                                        "names": ["a", "b", "c"]}
    assert document["meta"]["metrics"] == [{"type": "COUNTER", "key": "seldon_style_predictions", "value": 1}]
    tensor = post(server, "/seldon/seldon_style/api/v1.0/predictions", body("external_prediction_tensor.json"))
    assert tensor.json()["data"]["tensor"] == {"shape": [2, 2], "values": [0, 0, 2, 2]}
    json_data = post(server, "/seldon/seldon_style/api/v1.0/predictions", body("metadata_jsondata.json"))
    assert json_data.json()["jsonData"] == {"keys": ["my-data", "my-names"]}
    text = post(server, "/seldon/seldon_style/api/v1.0/predictions", body("metadata_strdata.json"))
    assert text.json()["strData"] == "SOME TEST INPUT"
    scrape = httpx.get(server.url + "/metrics").text
    assert 'modelward_seldon_counter_total{key="seldon_style_predictions",model="seldon_style"}' in scrape


def test_the_articles_class_and_request(server: Server) -> None:
    answer = post(server, "/seldon/weather_model/api/v1.0/predictions", body("article_temperature.json"))
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert document["data"] == {"names": [], "ndarray": ["55"]}
    assert document["meta"]["tags"] == {"weather_state": "HUMID"}


def test_seldon_class_on_the_native_route(server: Server) -> None:
    answer = httpx.post(server.url + "/api/models/seldon_style/prediction",
                        json={"X": [[1, 2]], "names": ["a", "b"]})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"data": [[2, 4]], "names": ["t:0", "t:1"]}


def test_feedback_from_the_docs_is_journaled_and_reaches_send_feedback(server: Server) -> None:
    workdir = server.log.parent
    answer = post(server, "/seldon/seldon_style/api/v1.0/feedback", body("internal_feedback.json"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["meta"]["tags"]["delivered_to"] == ["SeldonModelAdapter"]
    (received,) = [json.loads(x) for x in (workdir / "component-feedback.jsonl").read_text().splitlines()]
    assert received == {"features": [[0, 1]], "names": ["a", "b"], "reward": 1.0, "truth": None,
                        "routing": None, "features_type": "ndarray"}
    records = [json.loads(x) for x in (workdir / "journal.jsonl").read_text().splitlines()]
    assert records[-1]["protocol"] == "seldon" and records[-1]["model"] == "seldon_style"
    assert records[-1]["request"] == json.loads(body("internal_feedback.json"))["request"]


def test_feedback_reaches_the_decorator_with_routing(server: Server) -> None:
    first = post(server, "/api/v1.0/predictions", body("metadata_ndarray.json")).json()
    first["meta"]["routing"] = {"pair_model": 1}
    feedback = {"request": json.loads(body("metadata_ndarray.json")), "response": first, "reward": 0.25}
    answer = post(server, "/api/v1.0/feedback", json.dumps(feedback).encode())
    assert answer.status_code == 200, answer.text
    assert answer.json()["meta"]["tags"]["delivered_to"] == ["LearningDecorator"]
    record = [json.loads(x) for x in (server.log.parent / "journal.jsonl").read_text().splitlines()][-1]
    assert (record["reward"], record["routing"], record["request_id"]) == (0.25, {"pair_model": 1},
                                                                          first["meta"]["puid"])
    after = post(server, "/api/v1.0/predictions", body("metadata_ndarray.json")).json()
    assert after["meta"]["tags"]["rewards_seen"] >= 1


def test_bad_feedback_is_400(server: Server) -> None:
    answer = post(server, "/api/v1.0/feedback", b'{"reward": "high"}')
    assert answer.status_code == 400
    assert answer.json()["status"]["info"] == "feedback.reward: expected a finite number"
    assert post(server, "/seldon/nope/api/v1.0/feedback", b'{"reward": 1}').status_code == 404


POLICY = """
models:
  - class_path: tests.fixtures.PairModel
    decorators:
      - class_path: modelward.policy.PolicyDecorator
        configuration:
          policies: ["{policies}"]
          package: pair
          engine: embedded
          check: input
"""

REGO = """package pair

import future.keywords

default allow := false

allow if input.model_input.a <= 100

messages contains "a may not exceed 100" if input.model_input.a > 100
"""


def test_policy_denial_is_a_4xx_with_the_messages(serve: Callable[..., Server], tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "pair.rego").write_text(REGO, encoding="utf-8")
    server = serve(write_config(tmp_path / "c.yaml", POLICY.format(policies=tmp_path / "policies")))
    assert wait_started(server.url).status_code == 200, server.output()
    answer = post(server, "/api/v1.0/predictions", b'{"data": {"names": ["a", "b"], "ndarray": [[1, 1], [500, 1]]}}')
    assert answer.status_code == 403, answer.text
    assert answer.json()["status"] == {"code": 403, "info": "row 1: a may not exceed 100",
                                       "reason": "PredictionNotAvailable", "status": "FAILURE"}


def test_seldon_health_paths_the_executor_calls(server: Server) -> None:
    ping = httpx.get(server.url + "/health/ping")
    assert (ping.status_code, ping.text) == (200, "pong")
    for path in ("/health/status", "/api/v1.0/health/status"):
        status = httpx.get(server.url + path)
        assert status.status_code == 200
        assert status.json() == {"status": {"code": 200, "info": "ready", "status": "SUCCESS"}}
    paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    assert {"/health/ping", "/health/status", "/api/v1.0/health/status"} <= set(paths)


def test_seldon_health_status_is_503_while_models_load(serve: Callable[..., Server], tmp_path: Path) -> None:
    config = write_config(tmp_path / "slow.yaml", "models:\n  - class_path: tests.fixtures.SlowInitModel\n"
                          "    configuration: {seconds: 2.0}\n")
    slow = serve(config)
    status = httpx.get(slow.url + "/api/v1.0/health/status")
    assert status.status_code == 503
    assert status.json()["status"]["status"] == "FAILURE"
    assert httpx.get(slow.url + "/health/ping").text == "pong"
    assert httpx.get(slow.url + "/api/v1.0/metadata").status_code == 503


def test_seldon_metadata_names_the_model_and_its_schemas(server: Server) -> None:
    for path in ("/metadata", "/api/v1.0/metadata"):
        answer = httpx.get(server.url + path)
        assert answer.status_code == 200, answer.text
        document = answer.json()
        assert (document["name"], document["versions"], document["platform"]) == \
            ("pair_model", ["0.3.0"], "modelward")
        assert document["inputs"][0]["messagetype"] == "jsonData"
        assert set(document["inputs"][0]["schema"]["properties"]) == {"a", "b"}
        assert set(document["outputs"][0]["schema"]["properties"]) == {"total", "product"}
