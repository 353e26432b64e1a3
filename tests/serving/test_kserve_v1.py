"""KServe V1 on a real `modelward serve`: model list, readiness, :predict with KServe's request bodies."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, running, wait_started, write_config
from tests.serving.test_seldon import POLICY, REGO

pytestmark = pytest.mark.integration

CONFIG = """
models:
  - class_path: tests.fixtures.PairModel
  - class_path: tests.fixtures.EchoModel
    create_endpoint: false
  - class_path: tests.fixtures.SeldonStyleModel
    qualified_name: seldon_style
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(CONFIG, tmp_path_factory.mktemp("kserve")) as started:
        yield started


def test_list_and_ready(server: Server) -> None:
    assert httpx.get(server.url + "/v1/models").json() == {"models": ["pair_model", "seldon_style"]}
    assert httpx.get(server.url + "/v1/models/pair_model").json() == {"name": "pair_model", "ready": True}
    unknown = httpx.get(server.url + "/v1/models/echo_model")  # served without an endpoint
    assert unknown.status_code == 404
    assert "no model named 'echo_model'" in unknown.json()["error"]


def test_predict_with_objects_and_lists(server: Server) -> None:
    # KServe's documented request shape: {"instances": [...]}, rows as objects or as lists
    answer = httpx.post(server.url + "/v1/models/pair_model:predict",
                        json={"instances": [{"a": 1, "b": 2}, [3, 4]]})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": [{"total": 3.0, "product": 2.0}, {"total": 7.0, "product": 12.0}]}
    assert len(answer.headers["x-request-id"]) == 32


def test_the_sklearn_iris_body_reaches_a_seldon_class(server: Server) -> None:
    # the body of KServe's sklearn-iris example (docs: "Deploy your first InferenceService")
    body = {"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}
    answer = httpx.post(server.url + "/v1/models/seldon_style:predict", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": [[13.6, 5.6, 9.6, 2.8], [12.0, 6.8, 9.0, 3.2]]}


@pytest.mark.parametrize(("path", "body", "status", "fragment"), [
    ("/v1/models/pair_model:predict", {"rows": []}, 400, "give 'instances'"),
    ("/v1/models/pair_model:predict", {"instances": {"a": 1}}, 400, "instances: expected a list of rows"),
    ("/v1/models/pair_model:predict", {"instances": [[1]]}, 400, "instances[0]: expected 2 values (a, b"),
    ("/v1/models/pair_model:predict", {"instances": [7]}, 400, "instances[0]: expected a row"),
    ("/v1/models/pair_model:predict", {"instances": [{"a": 1, "b": -1}]}, 422, "[0].b"),
    ("/v1/models/nope:predict", {"instances": [[1, 2]]}, 404, "no model named 'nope'"),
    ("/v1/models/pair_model:explain", {"instances": [[1, 2]]}, 404, "explain is not supported"),
    ("/v1/models/pair_model:train", {"instances": [[1, 2]]}, 404, "unknown route"),
])
def test_bad_requests_name_the_problem(server: Server, path: str, body: object, status: int,
                                       fragment: str) -> None:
    answer = httpx.post(server.url + path, json=body)
    assert answer.status_code == status, answer.text
    assert fragment in answer.json()["error"]


def test_not_json_is_415(server: Server) -> None:
    answer = httpx.post(server.url + "/v1/models/pair_model:predict", content=b"a=1",
                        headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 415


def test_policy_denial_is_a_4xx_with_the_messages(serve: Callable[..., Server], tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "pair.rego").write_text(REGO, encoding="utf-8")
    server = serve(write_config(tmp_path / "c.yaml", POLICY.format(policies=tmp_path / "policies")))
    assert wait_started(server.url).status_code == 200, server.output()
    answer = httpx.post(server.url + "/v1/models/pair_model:predict", json={"instances": [[500, 1]]})
    assert answer.status_code == 403
    assert answer.json() == {"error": "a may not exceed 100"}


def test_protocol_routes_are_in_the_openapi_document(server: Server) -> None:
    document = httpx.get(server.url + "/openapi.json").json()
    for path in ("/api/v1.0/predictions", "/api/v1.0/feedback", "/seldon/{model}/api/v1.0/predictions",
                 "/v1/models", "/v1/models/{name}", "/v1/models/{name}:predict", "/invocations", "/ping",
                 "/version"):
        assert path in document["paths"], path
    assert "SeldonMessage" in document["components"]["schemas"]
    assert "text/csv" in document["paths"]["/invocations"]["post"]["requestBody"]["content"]
