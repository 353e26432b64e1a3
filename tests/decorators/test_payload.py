"""The payload log decorator in process: records, masking, denials, a sink that is down, CloudEvents."""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from modelward.decorators import PayloadLogDecorator
from modelward.errors import ConfigurationError, JournalFull
from modelward.model import MLModelDecorator, PredictionNotAvailable
from modelward.model.context import request_id
from tests.conftest import free_port
from tests.fixtures import EchoInput, EchoModel


class Denying(MLModelDecorator):
    def predict(self, data: Any) -> Any:
        if data.value > 100:
            return PredictionNotAvailable(messages=["value over 100"])
        return self.model.predict(data)


def wait_until(condition: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def test_every_prediction_and_denial_reaches_the_jsonl_sink_masked(tmp_path: Path) -> None:
    sink = tmp_path / "sink" / "payloads.jsonl"
    model = PayloadLogDecorator(journal=str(tmp_path / "journal"), sink={"type": "jsonl", "path": str(sink)},
                                mask=["request.label", "response.label"]).set_model(Denying().set_model(EchoModel()))
    token = request_id.set("req-1")
    try:
        model.predict(EchoInput(value=2, label="secret"))
        model.predict(EchoInput(value=200))
    finally:
        request_id.reset(token)
    wait_until(lambda: len(lines(sink)) == 2)
    first, second = lines(sink)
    assert first["request"] == {"value": 2.0, "label": "****"} and first["response"] == {"doubled": 4.0,
                                                                                          "label": "****"}
    assert first["request_id"] == "req-1" and first["model"] == "echo_model" and first["version"] == "1.0.0"
    assert first["decision"] == {"allowed": True}
    assert second["decision"] == {"allowed": False, "messages": ["value over 100"]} and second["response"] is None
    model.close()
    assert model.pending_bytes == 0


def test_a_sink_that_is_down_keeps_every_record_and_receives_them_when_it_is_back(tmp_path: Path) -> None:
    port = free_port()
    model = PayloadLogDecorator(journal=str(tmp_path / "journal"), max_backoff=0.2,
                                sink={"type": "cloudevents", "url": f"http://127.0.0.1:{port}/events",
                                      "timeout": 2}).set_model(EchoModel())
    for value in range(5):
        model.predict(EchoInput(value=value))
    wait_until(lambda: model.health_problems() != [])
    assert "payload sink cloudevents" in model.health_problems()[0]
    assert "bytes waiting" in model.health_problems()[0]
    with collector(port) as received:
        wait_until(lambda: len(received) == 5)
        wait_until(lambda: model.health_problems() == [])
        assert received[0]["specversion"] == "1.0" and received[0]["type"] == "io.modelward.payload"
        assert [event["data"]["request"]["value"] for event in received] == [0, 1, 2, 3, 4]
        assert len({event["id"] for event in received}) == 5
        model.close()


def test_a_full_journal_refuses_with_a_clear_error_and_says_so_in_health(tmp_path: Path) -> None:
    port = free_port()
    model = PayloadLogDecorator(journal=str(tmp_path / "journal"), max_bytes=1024, when_full="refuse",
                                sink={"type": "cloudevents", "url": f"http://127.0.0.1:{port}/"}).set_model(EchoModel())
    with pytest.raises(JournalFull, match="is full"):
        for value in range(100):
            model.predict(EchoInput(value=value))
    assert any("is full" in problem for problem in model.health_problems())
    samples = {name: value for name, _, _, value in model.metric_samples()}
    assert samples["modelward_payload_refused"] == 1
    model._shipper.close(drain_seconds=0)
    model._journal.close()


def test_bad_configuration_names_the_key() -> None:
    with pytest.raises(ConfigurationError, match=r"PayloadLogDecorator: .*fsync"):
        PayloadLogDecorator(journal="j", sink={"type": "jsonl", "path": "p"}, fsync="sometimes")


class _Collector(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        assert self.headers["Content-Type"] == "application/cloudevents-batch+json"
        type(self).received.extend(json.loads(body))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class collector:  # noqa: N801 - used as a context manager
    """A CloudEvents batch receiver on loopback (http.server)."""

    def __init__(self, port: int) -> None:
        handler = type("Handler", (_Collector,), {"received": []})
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.received: list[dict[str, Any]] = handler.received
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> list[dict[str, Any]]:
        self.thread.start()
        return self.received

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()




def test_counters_are_exact_under_concurrent_predictions(tmp_path: Path) -> None:
    """8 request threads and the shipper add to the counters at once; no update is lost.

    (CPython 3.11's GIL happens not to switch inside ``+=`` on a dict item, so this guards the lock
    for free-threaded builds and against counters written another way.)
    """
    sink = tmp_path / "payloads.jsonl"
    model = PayloadLogDecorator(journal=str(tmp_path / "journal"), fsync="never", batch_size=50, ship_interval=0.01,
                                sink={"type": "jsonl", "path": str(sink)}).set_model(EchoModel())
    threads, each = 8, 500
    start = threading.Barrier(threads)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter allows

    def client() -> None:
        start.wait()
        for value in range(each):
            model.predict(EchoInput(value=value))

    try:
        workers = [threading.Thread(target=client) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(interval)
    wait_until(lambda: model.pending_bytes == 0)
    samples = {name: value for name, _, _, value in model.metric_samples()}
    assert samples["modelward_payload_journaled"] == threads * each
    assert samples["modelward_payload_shipped"] == threads * each == len(lines(sink))
    model.close()
