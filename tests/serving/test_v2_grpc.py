"""Open Inference V2 over gRPC on a real `modelward serve --grpc-port`, driven by tritonclient.grpc.

The client runs in tests/.envs/peers as a subprocess (tritonclient is no modelward dependency).
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, free_port, start_server, stop, wait_started
from tests.serving.v2_support import run_client, v2_config

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, int]]:
    folder = tmp_path_factory.mktemp("v2grpc")
    port = free_port()
    started = start_server(v2_config(folder), folder, "--grpc-port", str(port))
    try:
        assert wait_started(started.url).status_code == 200, started.output()
        yield started, port
    finally:
        stop(started.process)


@pytest.fixture(scope="module")
def triton(served: tuple[Server, int]) -> dict[str, Any]:
    return run_client("triton_grpc.py", f"127.0.0.1:{served[1]}")


def test_health_and_metadata(triton: dict[str, Any]) -> None:
    assert (triton["live"], triton["ready"], triton["model_ready"]) == (True, True, True)
    assert triton["server"]["name"] == "modelward"
    assert "statistics" in triton["server"]["extensions"]
    metadata = triton["metadata"]
    assert (metadata["name"], metadata["versions"]) == ("echo_model", ["1.0.0"])
    assert [(t["name"], t["datatype"]) for t in metadata["inputs"]] == [("value", "FP64"), ("label", "BYTES")]
    assert [(t["name"], t["datatype"]) for t in metadata["outputs"]] == [("doubled", "FP64"), ("label", "BYTES")]
    assert triton["unknown_model"]["status"] == "StatusCode.NOT_FOUND"


@pytest.mark.parametrize("mode", ["infer", "versioned"])
def test_infer_with_raw_contents(triton: dict[str, Any], mode: str) -> None:
    assert triton[mode] == {"doubled": [3.0, 4.0], "label": ["a", "bc"], "id": "req-9", "model_version": "1.0.0"}


def test_infer_with_typed_contents_answers_typed_contents(triton: dict[str, Any]) -> None:
    assert triton["typed"] == {"doubled": [6.0, 9.0], "label": ["x", "y"], "raw": 0, "id": "typed"}


def test_errors_become_grpc_status_codes(triton: dict[str, Any]) -> None:
    assert triton["denied"]["status"] == "StatusCode.PERMISSION_DENIED"
    assert "value above 100" in triton["denied"]["message"]
    assert triton["allowed"]["doubled"] == [10.0]
    assert triton["bad_name"]["status"] == "StatusCode.INVALID_ARGUMENT"
    assert "input tensor 'valu' is not an input of model 'echo_model'" in triton["bad_name"]["message"]
    assert triton["wrong_version"]["status"] == "StatusCode.NOT_FOUND"


def test_statistics_and_repository(triton: dict[str, Any]) -> None:
    (stats,) = triton["stats"]["model_stats"]
    assert stats["name"] == "echo_model"
    # counters are uint64, which protobuf's JSON mapping writes as strings
    assert int(stats["inference_count"]) == 6 and int(stats["execution_count"]) == 3
    assert int(stats["inference_stats"]["fail"]["count"]) == 1
    assert {m["name"] for m in triton["index"]["models"]} == {"echo_model", "guarded_echo"}
    assert triton["load"]["status"] is None
    assert triton["unload"]["status"] == "StatusCode.INVALID_ARGUMENT"


def test_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    started = start_server(v2_config(tmp_path), tmp_path, "--grpc-port", str(port))
    try:
        assert wait_started(started.url).status_code == 200, started.output()
        started.process.send_signal(signal.SIGTERM)
        assert started.process.wait(timeout=20) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal
    finally:
        stop(started.process)
    assert "Application shutdown complete" in started.output()
    assert "Traceback" not in started.output()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0  # nothing listens any more


def test_a_taken_grpc_port_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = start_server(v2_config(tmp_path), tmp_path, "--grpc-port", str(port), wait=False)
        try:
            assert started.process.wait(timeout=30) != 0
        finally:
            stop(started.process)
    output = started.output()
    assert f"cannot serve gRPC on 127.0.0.1:{port}" in output
    assert "Traceback" not in output


def test_unavailable_until_models_load(tmp_path: Path) -> None:
    config = tmp_path / "slow.yaml"
    config.write_text("models:\n  - class_path: tests.fixtures.SlowInitModel\n    configuration: {seconds: 15}\n",
                      encoding="utf-8")
    port = free_port()
    started = start_server(config, tmp_path, "--grpc-port", str(port))
    try:
        answer = run_client("triton_grpc.py", f"127.0.0.1:{port}", "not-ready")
    finally:
        stop(started.process)
    assert (answer["live"], answer["ready"]) == (True, False)
    assert answer["infer"]["status"] == "StatusCode.UNAVAILABLE"
    assert "not ready" in answer["infer"]["message"]
