"""The REST service, started for real (`modelward serve`) and called over HTTP with httpx."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, child_env, start_server, stop, wait_started, write_config

pytestmark = pytest.mark.integration

ECHO = """\
service_title: Echo Service
description: Toy models for the tests.
version: 2.3.4
models:
  - qualified_name: echo_model
    class_path: tests.fixtures.EchoModel
    configuration: {version: "1.2.3"}
    decorators:
      - class_path: tests.fixtures.SuffixDecorator
        configuration: {suffix: "-checked"}
  - class_path: tests.fixtures.RaisingModel
  - class_path: tests.ml_base_fixtures.IrisModel
    execution: inline
    decorators:
      - class_path: tests.ml_base_fixtures.UpperCaseDecorator
"""

JSON_HEADERS = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("echo")
    server = start_server(write_config(workdir / "svc.yaml", ECHO), workdir,
                          env=child_env(MODELWARD_MAX_BODY_BYTES="2048"))
    try:
        assert wait_started(server.url).status_code == 200, server.output()
        yield server
    finally:
        stop(server.process)


def post(server: Server, path: str, body: bytes | str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(server.url + path, content=body, headers=headers or JSON_HEADERS, timeout=10)


def test_prediction_through_the_decorator_chain(echo: Server) -> None:
    answer = post(echo, "/api/models/echo_model/prediction", '{"value": 4.5, "label": "a"}')
    assert answer.status_code == 200
    assert answer.json() == {"doubled": 9.0, "label": "a-checked"}
    assert answer.headers["content-type"] == "application/json"
    assert len(answer.headers["x-request-id"]) == 32


def test_request_id_is_echoed(echo: Server) -> None:
    headers = {**JSON_HEADERS, "x-request-id": "req-123"}
    answer = post(echo, "/api/models/echo_model/prediction", '{"value": 1}', headers)
    assert answer.headers["x-request-id"] == "req-123"


def test_ml_base_model_served_unchanged_inline(echo: Server) -> None:
    answer = post(echo, "/api/models/iris_model/prediction", '{"sepal_length": 5.1, "petal_length": 1.4}')
    assert answer.json() == {"species": "SETOSA"}


def test_batch_predictions(echo: Server) -> None:
    answer = post(echo, "/api/models/echo_model/predictions", '[{"value": 1}, {"value": 2, "label": "b"}]')
    assert answer.status_code == 200
    assert answer.json() == [{"doubled": 2.0, "label": "x-checked"}, {"doubled": 4.0, "label": "b-checked"}]


def test_schema_error_is_422_with_field_and_reason(echo: Server) -> None:
    answer = post(echo, "/api/models/echo_model/prediction", '{"value": 5000, "label": 7}')
    assert answer.status_code == 422
    body = answer.json()
    assert body["type"] == "SchemaValidationError"
    assert {e["field"] for e in body["errors"]} == {"value", "label"}
    assert "less than or equal to 1000" in body["messages"][0]


def test_batch_schema_error_names_the_item(echo: Server) -> None:
    answer = post(echo, "/api/models/echo_model/predictions", '[{"value": 1}, {"value": -3}]')
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "[1].value"


def test_unknown_model_is_404_naming_it(echo: Server) -> None:
    answer = post(echo, "/api/models/no_such_model/prediction", '{"value": 1}')
    assert answer.status_code == 404
    assert "no model named 'no_such_model'" in answer.json()["messages"][0]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ('{"value": NaN}', "'NaN' is not valid JSON"),
        ('{"value": Infinity}', "'Infinity' is not valid JSON"),
        ('{"value": 1, "value": 2}', "duplicate key 'value'"),
        ('{"value": ', "invalid JSON"),
        ("[]", "expected a JSON object"),
    ],
)
def test_malformed_json_is_4xx(echo: Server, body: str, fragment: str) -> None:
    answer = post(echo, "/api/models/echo_model/prediction", body)
    assert 400 <= answer.status_code < 500
    assert fragment in answer.json()["messages"][0]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_non_json_content_type_is_415(echo: Server, content_type: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    answer = httpx.post(echo.url + "/api/models/echo_model/prediction", content=b'{"value": 1}', headers=headers)
    assert answer.status_code == 415
    assert "Content-Type must be application/json" in answer.json()["messages"][0]


def test_body_over_the_limit_is_413(echo: Server) -> None:
    big = json.dumps({"value": 1, "label": "x" * 4000})
    answer = post(echo, "/api/models/echo_model/prediction", big)
    assert answer.status_code == 413
    assert "limit of 2048 bytes" in answer.json()["messages"][0]


def test_chunked_body_over_the_limit_is_413(echo: Server) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b" " * 500

    answer = httpx.post(echo.url + "/api/models/echo_model/prediction", content=chunks(), headers=JSON_HEADERS)
    assert answer.status_code == 413


def test_model_failure_is_500_without_internals(echo: Server) -> None:
    answer = post(echo, "/api/models/raising_model/prediction", '{"value": 1}')
    assert answer.status_code == 500
    text = answer.text
    assert "PredictionError" in text
    assert "10.0.0.7" not in text and "Traceback" not in text
    assert "internal model failure at 10.0.0.7" in echo.output()  # the log keeps the detail


def test_models_listing_has_metadata_and_schemas(echo: Server) -> None:
    models = {m["qualified_name"]: m for m in httpx.get(echo.url + "/api/models").json()["models"]}
    assert set(models) == {"echo_model", "raising_model", "iris_model"}
    echo_meta = models["echo_model"]
    assert echo_meta["version"] == "1.2.3"
    assert echo_meta["decorators"] == "SuffixDecorator(EchoModel)"
    assert echo_meta["input_schema"]["properties"]["value"]["maximum"] == 1000
    meta = httpx.get(echo.url + "/api/models/iris_model/metadata").json()
    assert meta["display_name"] == "Iris Model"
    assert httpx.get(echo.url + "/api/models/nope/metadata").status_code == 404


def test_health_endpoints(echo: Server) -> None:
    assert httpx.get(echo.url + "/api/health").json() == {"health_status": "HEALTHY"}
    assert httpx.get(echo.url + "/api/health/ready").json() == {"readiness_status": "ACCEPTING_TRAFFIC"}
    assert httpx.get(echo.url + "/api/health/startup").json() == {"startup_status": "STARTED"}


def test_root_redirects_to_docs_and_docs_render(echo: Server) -> None:
    answer = httpx.get(echo.url + "/", follow_redirects=False)
    assert answer.status_code in (302, 307)
    assert answer.headers["location"] == "/docs"
    docs = httpx.get(echo.url + "/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_openapi_contract_has_every_model(echo: Server) -> None:
    document = httpx.get(echo.url + "/openapi.json").json()
    assert document["info"] == {"title": "Echo Service", "description": "Toy models for the tests.",
                                "version": "2.3.4"}
    path = document["paths"]["/api/models/echo_model/prediction"]["post"]
    assert path["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/echo_model__Input"}
    assert set(path["responses"]) >= {"200", "413", "415", "422"}
    schemas = document["components"]["schemas"]
    assert schemas["echo_model__Input"]["properties"]["value"]["maximum"] == 1000
    assert "/api/models/iris_model/predictions" in document["paths"]


def test_unknown_route_and_method_are_json(echo: Server) -> None:
    missing = httpx.get(echo.url + "/nothing/here")
    assert missing.status_code == 404 and missing.json()["type"] == "HTTPError"
    wrong = httpx.get(echo.url + "/api/models/echo_model/prediction")
    assert wrong.status_code == 405 and wrong.json()["type"] == "HTTPError"


def test_startup_probe_is_503_until_models_load(serve: Callable[..., Server], tmp_path: Path) -> None:
    config = write_config(tmp_path / "slow.yaml", "models:\n  - class_path: tests.fixtures.SlowInitModel\n"
                          "    configuration: {seconds: 2.0}\n")
    server = serve(config)
    early = httpx.get(server.url + "/api/health/startup")
    assert early.status_code == 503
    assert early.json()["startup_status"] == "NOT_STARTED"
    assert "still loading" in early.json()["reason"]
    assert httpx.get(server.url + "/api/health/ready").status_code == 503
    prediction = post(server, "/api/models/slow_model/prediction", '{"value": 1}')
    assert prediction.status_code == 503
    assert wait_started(server.url).status_code == 200
    assert post(server, "/api/models/slow_model/prediction", '{"value": 1}').status_code == 200


def test_model_that_fails_to_load_keeps_probes_503_with_reason(serve: Callable[..., Server],
                                                                tmp_path: Path) -> None:
    config = write_config(tmp_path / "bad.yaml", "models:\n  - class_path: tests.fixtures.FailingInitModel\n"
                          "    configuration: {reason: store unreachable}\n")
    server = serve(config)
    answer = wait_started(server.url)
    assert answer.status_code == 503
    assert answer.json()["reason"] == "models failed to load; see the service log"  # no detail for anyone
    health = httpx.get(server.url + "/api/health")
    assert health.status_code == 503 and health.json()["health_status"] == "NOT_HEALTHY"
    assert "bad.yaml: models[0]: FailingInitModel.__init__ raised RuntimeError: store unreachable" in server.output()


def test_rest_config_environment_variable(serve: Callable[..., Server], tmp_path: Path) -> None:
    config = write_config(tmp_path / "from_env.yaml", ECHO)
    server = serve(None, env=child_env(REST_CONFIG=str(config)))
    assert wait_started(server.url).status_code == 200
    assert httpx.get(server.url + "/api/models").json()["models"][0]["qualified_name"] == "echo_model"


def test_several_workers_serve_the_same_models(serve: Callable[..., Server], tmp_path: Path) -> None:
    server = serve(write_config(tmp_path / "svc.yaml", ECHO), "--workers", "2")
    assert wait_started(server.url).status_code == 200, server.output()
    for _ in range(20):
        answer = post(server, "/api/models/echo_model/prediction", '{"value": 2}')
        assert answer.json()["doubled"] == 4.0
    # uvicorn's supervisor reports each worker it started
    pids = {line.split("[")[1].split("]")[0] for line in server.output().splitlines()
            if "Started server process" in line}
    assert len(pids) == 2, server.output()


def test_decorators_are_closed_at_shutdown(serve: Callable[..., Server], tmp_path: Path) -> None:
    marker = tmp_path / "closed.txt"
    config = write_config(tmp_path / "svc.yaml", "models:\n  - class_path: tests.fixtures.EchoModel\n"
                          "    decorators:\n      - class_path: tests.fixtures.ClosingDecorator\n"
                          f"        configuration: {{marker: '{marker}'}}\n")
    server = serve(config)
    assert wait_started(server.url).status_code == 200
    assert not marker.exists()
    stop(server.process)
    assert marker.read_text() == "closed"


def test_health_answers_while_a_slow_model_predicts(serve: Callable[..., Server], tmp_path: Path) -> None:
    import threading
    import time

    config = write_config(tmp_path / "svc.yaml", "models:\n  - class_path: tests.fixtures.SleepyModel\n")
    server = serve(config)  # execution: auto, the default
    assert wait_started(server.url).status_code == 200
    assert post(server, "/api/models/sleepy_model/prediction", '{"value": 600}').status_code == 200
    slow = threading.Thread(target=post, args=(server, "/api/models/sleepy_model/prediction", '{"value": 600}'))
    slow.start()
    time.sleep(0.1)
    started = time.perf_counter()
    assert httpx.get(server.url + "/api/health", timeout=5).status_code == 200
    assert time.perf_counter() - started < 0.3  # the 600 ms prediction runs in a worker thread
    slow.join(5)
