"""Open Inference V2 over REST on a real `modelward serve`, driven by clients others wrote.

tritonclient.http (JSON and binary tensors) and KServe's InferRequest/InferenceRESTClient run in
tests/.envs/peers as subprocesses; a few malformed requests are sent with httpx.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import Server, start_server, stop, wait_started
from tests.serving.v2_support import run_client, v2_config

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("v2rest")
    started = start_server(v2_config(folder), folder)
    try:
        assert wait_started(started.url).status_code == 200, started.output()
        yield started
    finally:
        stop(started.process)


@pytest.fixture(scope="module")
def triton(server: Server) -> dict[str, Any]:
    return run_client("triton_http.py", server.url.removeprefix("http://"))


def test_health_and_metadata_through_tritonclient(triton: dict[str, Any]) -> None:
    assert (triton["live"], triton["ready"], triton["model_ready"], triton["unknown_ready"]) == (True, True, True,
                                                                                                 False)
    assert triton["server"]["name"] == "modelward"
    assert set(triton["server"]["extensions"]) >= {"binary_tensor_data", "model_repository", "statistics"}
    metadata = triton["metadata"]
    assert metadata == triton["versioned_metadata"]
    assert (metadata["name"], metadata["versions"]) == ("echo_model", ["1.0.0"])
    assert metadata["inputs"] == [{"name": "value", "datatype": "FP64", "shape": [-1]},
                                  {"name": "label", "datatype": "BYTES", "shape": [-1]}]
    assert metadata["outputs"] == [{"name": "doubled", "datatype": "FP64", "shape": [-1]},
                                   {"name": "label", "datatype": "BYTES", "shape": [-1]}]
    assert triton["unknown_model"]["status"] == "404"
    assert "no_such_model" in triton["unknown_model"]["message"]


@pytest.mark.parametrize("mode", ["json", "binary", "default_outputs", "versioned"])
def test_infer_through_tritonclient(triton: dict[str, Any], mode: str) -> None:
    answer = triton[mode]
    assert answer["doubled"] == [3.0, 4.0]
    assert answer["label"] == ["a", "bc"]
    assert (answer["id"], answer["model_version"]) == ("req-7", "1.0.0")
    # binary outputs when asked for (tritonclient asks for all of them when it names none)
    assert answer["binary"] == [mode != "json"] * 2


def test_policy_denial_keeps_its_messages(triton: dict[str, Any]) -> None:
    assert triton["denied"]["status"] == "403"
    assert "value above 100" in triton["denied"]["message"]
    assert triton["allowed"]["doubled"] == [10.0]


def test_bad_requests_name_the_tensor(triton: dict[str, Any]) -> None:
    assert triton["bad_name"]["status"] == "400"
    assert "input tensor 'valu' is not an input of model 'echo_model'" in triton["bad_name"]["message"]
    assert triton["bad_shape"]["status"] == "400"
    assert "tensor 'value': shape [2] holds 2 elements, but data has 3" in triton["bad_shape"]["message"]
    assert triton["wrong_version"]["status"] == "404"
    assert "version '9' is not served" in triton["wrong_version"]["message"]


def test_statistics_and_repository_extensions(triton: dict[str, Any]) -> None:
    (stats,) = triton["stats"]["model_stats"]
    assert stats["name"] == "echo_model" and stats["version"] == "1.0.0"
    assert stats["inference_count"] >= 8 and stats["execution_count"] >= 4  # 4 good requests of 2 rows
    success = stats["inference_stats"]["success"]
    assert success["count"] == stats["execution_count"] and success["ns"] > 0
    assert stats["inference_stats"]["fail"]["count"] == 1  # the unknown tensor name (decoding errors come first)
    assert {(m["name"], m["state"]) for m in triton["index"]} == {("echo_model", "READY"), ("guarded_echo", "READY")}
    assert triton["load"]["status"] is None
    assert triton["load_unknown"]["status"] == "404"
    assert triton["unload"]["status"] == "400"
    assert "cannot be unloaded" in triton["unload"]["message"]


def test_kserve_infer_request_types(server: Server) -> None:
    answers = run_client("kserve_rest.py", server.url)
    for mode in ("json", "binary"):
        assert answers[mode] == {"id": "kserve-1", "doubled": [2.0, 8.0], "label": ["k", "k"]}
    assert answers["invalid"]["status"] == 422
    assert "less than or equal to 1000" in answers["invalid"]["body"]["error"]
    assert answers["to_rest"]["outputs"][0]["data"] == [6.0]


def infer(server: Server, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(f"{server.url}/v2/models/echo_model/infer", content=body, headers=headers)


def test_binary_request_and_response_bytes(server: Server) -> None:
    header = orjson.dumps({"inputs": [
        {"name": "value", "datatype": "FP32", "shape": [2], "parameters": {"binary_data_size": 8}},
        {"name": "label", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": 11}}],
        "outputs": [{"name": "label", "parameters": {"binary_data": True}}]})
    data = struct.pack("<2f", 0.5, 8.0) + struct.pack("<I", 2) + b"hi" + struct.pack("<I", 1) + b"z"
    answer = infer(server, header + data, **{"Inference-Header-Content-Length": str(len(header)),
                                            "Content-Type": "application/octet-stream"})
    assert answer.status_code == 200, answer.text
    size = int(answer.headers["inference-header-content-length"])
    document = orjson.loads(answer.content[:size])
    assert document["outputs"] == [{"name": "label", "datatype": "BYTES", "shape": [2],
                                    "parameters": {"binary_data_size": 11}}]
    assert answer.content[size:] == struct.pack("<I", 2) + b"hi" + struct.pack("<I", 1) + b"z"


@pytest.mark.parametrize(("body", "headers", "fragment"), [
    (b"{", {}, "invalid JSON"),
    (b"[]", {}, "the inference request must be a JSON object"),
    (b'{"inputs": {}}', {}, "'inputs' must be a list"),
    (b'{"inputs": [{"name": "value", "datatype": "FP64", "shape": [1]}]}', {},
     "tensor 'value' has neither 'data' nor a binary_data_size"),
    (b'{"inputs": [{"name": "value", "datatype": "FLOAT", "shape": [1], "data": [1]}]}', {},
     "tensor 'value': unknown datatype 'FLOAT'"),
    (b'{"inputs": [{"name": "value", "datatype": "FP64", "shape": [1], "data": [1]}, '
     b'{"name": "label", "datatype": "BYTES", "shape": [2], "data": ["a", "b"]}]}', {},
     "input tensor 'label' has 2 rows but 'value' has 1"),
    (b'{"inputs": [{"name": "value", "datatype": "FP64", "shape": [1], "parameters": {"binary_data_size": 8}}]}',
     {"Inference-Header-Content-Length": "all"}, "binary_data_size 8 does not fit"),
    (b'{"inputs": [{"name": "value", "datatype": "FP64", "shape": [1], "data": [1]}], '
     b'"outputs": [{"name": "nope"}]}', {}, "output tensor 'nope' is not an output of model 'echo_model'"),
])
def test_malformed_requests_are_400_naming_the_problem(server: Server, body: bytes, headers: dict[str, str],
                                                        fragment: str) -> None:
    if headers.get("Inference-Header-Content-Length") == "all":  # the whole body is the header: no binary data
        headers = {"Inference-Header-Content-Length": str(len(body))}
    answer = infer(server, body, **headers)
    assert answer.status_code == 400, answer.text
    assert fragment in answer.json()["error"]


def test_errors_are_v2_error_objects(server: Server) -> None:
    missing = httpx.post(f"{server.url}/v2/models/nope/infer", json={"inputs": []})
    assert missing.status_code == 404 and "no model named 'nope'" in missing.json()["error"]
    schema = infer(server, b'{"inputs": [{"name": "label", "datatype": "BYTES", "shape": [1], "data": ["a"]}]}')
    assert schema.status_code == 422 and "value: Field required" in schema.json()["error"]
    denied = httpx.post(f"{server.url}/v2/models/guarded_echo/infer", json={"inputs": [
        {"name": "value", "datatype": "FP64", "shape": [1], "data": [101]}]})
    assert denied.status_code == 403
    assert denied.json()["messages"] == ["value above 100"]
    compressed = infer(server, b"{}", **{"Content-Encoding": "gzip"})
    assert compressed.status_code == 415


def test_v2_routes_are_in_the_openapi_document(server: Server) -> None:
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    for path in ("/v2", "/v2/health/live", "/v2/health/ready", "/v2/models/{name}", "/v2/models/{name}/ready",
                 "/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer", "/v2/models/stats",
                 "/v2/repository/index"):
        assert path in paths, path
    assert "post" in paths["/v2/models/{name}/infer"]


def test_not_ready_until_models_load(tmp_path: Path) -> None:
    config = tmp_path / "slow.yaml"
    config.write_text("models:\n  - class_path: tests.fixtures.SlowInitModel\n    configuration: {seconds: 3}\n",
                      encoding="utf-8")
    started = start_server(config, tmp_path)
    try:
        assert httpx.get(f"{started.url}/v2/health/live").status_code == 200
        assert httpx.get(f"{started.url}/v2/health/ready").json() == {"ready": False}
        busy = httpx.post(f"{started.url}/v2/models/slow_model/infer", json={"inputs": []})
        assert busy.status_code == 503 and "not ready" in busy.json()["error"]
    finally:
        stop(started.process)
