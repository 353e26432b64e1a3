"""MLflow's scoring protocol on a real `modelward serve`: /invocations (JSON and CSV), /ping, /version."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, Server, running, wait_started, write_config
from tests.serving.test_seldon import POLICY, REGO

pytestmark = pytest.mark.integration

DATA = ROOT / "tests" / "data" / "mlflow"

CONFIG = """
models:
  - class_path: tests.fixtures.EchoModel
    create_endpoint: false
  - class_path: tests.fixtures.PairModel
  - class_path: tests.fixtures.SeldonStyleModel
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(CONFIG, tmp_path_factory.mktemp("mlflow")) as started:
        yield started


def invoke(server: Server, content: bytes, content_type: str = "application/json") -> httpx.Response:
    return httpx.post(server.url + "/invocations", content=content, headers={"content-type": content_type},
                      timeout=10)


ROWS_12_45 = [{"total": 3.0, "product": 2.0}, {"total": 9.0, "product": 20.0}]


@pytest.mark.parametrize(("name", "expected"), [
    ("dataframe_split.json", ROWS_12_45),
    ("dataframe_records.json", ROWS_12_45),  # column c is not a field of the model: ignored, as pandas would keep it
    ("inputs.json", [{"total": 3.0, "product": 2.0}, {"total": 7.0, "product": 12.0},
                     {"total": 11.0, "product": 30.0}]),
])
def test_bodies_from_mlflows_documentation(server: Server, name: str, expected: list[object]) -> None:
    answer = invoke(server, (DATA / name).read_bytes())
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": expected}


@pytest.mark.parametrize("document", [
    {"instances": [{"a": 1, "b": 2}, [4, 5]]},
    {"inputs": {"a": [1, 4], "b": [2, 5]}},
    {"dataframe_split": {"data": [[1, 2], [4, 5]]}, "params": {"x": 1}},
])
def test_instances_columns_and_split_without_columns(server: Server, document: object) -> None:
    answer = invoke(server, json.dumps(document).encode())
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": ROWS_12_45}


def test_csv_with_a_header_row(server: Server) -> None:
    answer = invoke(server, b"b,a\r\n2,1\r\n5,4\r\n", "text/csv; charset=utf-8")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": ROWS_12_45}


@pytest.mark.parametrize(("content", "content_type", "status", "fragment"), [
    (b'{"rows": []}', "application/json", 400, "give exactly one of dataframe_split, dataframe_records"),
    (b'{"instances": [[1]], "inputs": [[1]]}', "application/json", 400, "give exactly one of"),
    (b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}', "application/json", 400,
     "dataframe_split.data[0]: expected a list of 2 values (a, b)"),
    (b'{"inputs": {"a": [1, 2], "b": [3]}}', "application/json", 400, "columns have different lengths"),
    (b'{"dataframe_records": [{"a": 1, "b": -2}]}', "application/json", 422, "[0].b"),
    (b"a,b\n1\n", "text/csv", 400, "CSV line 2: expected 2 values (a, b), got 1"),
    (b"a,b\n", "text/csv", 400, "CSV body: expected a header row of field names and at least one row"),
    (b"a,b\nx,2\n", "text/csv", 422, "[0].a"),
    (b"<a/>", "application/xml", 415, "Content-Type must be application/json or text/csv"),
])
def test_bad_bodies_name_the_problem(server: Server, content: bytes, content_type: str, status: int,
                                     fragment: str) -> None:
    answer = invoke(server, content, content_type)
    assert answer.status_code == status, answer.text
    assert fragment in answer.json()["message"]
    assert answer.json()["error_code"] in ("BAD_REQUEST", "INVALID_PARAMETER_VALUE")


def test_ping_and_version(server: Server) -> None:
    assert httpx.get(server.url + "/ping").status_code == 200
    assert httpx.get(server.url + "/health").status_code == 200
    assert httpx.get(server.url + "/version").text == "0.1.0"


def test_ping_is_503_while_models_load(serve: Callable[..., Server], tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", "models:\n  - class_path: tests.fixtures.SlowInitModel\n"
                                               "    configuration: {seconds: 3}\n")
    server = serve(config)
    ping = httpx.get(server.url + "/ping")
    assert ping.status_code == 503
    assert "still loading" in ping.text
    assert invoke(server, b'{"inputs": [[1]]}').json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert wait_started(server.url).status_code == 200
    assert httpx.get(server.url + "/ping").status_code == 200


def test_default_model_picks_a_seldon_class(serve: Callable[..., Server], tmp_path: Path) -> None:
    server = serve(write_config(tmp_path / "c.yaml", "default_model: seldon_style_model\n" + CONFIG))
    assert wait_started(server.url).status_code == 200, server.output()
    answer = invoke(server, (DATA / "inputs.json").read_bytes())
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": [[2, 4], [6, 8], [10, 12]]}


def test_policy_denial_is_a_4xx_with_the_messages(serve: Callable[..., Server], tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "pair.rego").write_text(REGO, encoding="utf-8")
    server = serve(write_config(tmp_path / "c.yaml", POLICY.format(policies=tmp_path / "policies")))
    assert wait_started(server.url).status_code == 200, server.output()
    answer = invoke(server, b"a,b\n500,1\n", "text/csv")
    assert answer.status_code == 403
    assert answer.json() == {"error_code": "PERMISSION_DENIED", "message": "a may not exceed 100"}
