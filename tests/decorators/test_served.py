"""The cache and the payload log in a real `modelward serve`: /metrics (parsed) and /api/health."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Server, free_port, wait_started, write_config

pytestmark = pytest.mark.integration

CONFIG = """\
models:
  - class_path: tests.fixtures.EchoModel
    decorators:
      - class_path: modelward.decorators.CacheDecorator
        configuration: {{ttl: 60}}
      - class_path: modelward.decorators.PayloadLogDecorator
        configuration:
          journal: {journal}
          sink: {sink}
          mask: [request.label]
"""


def counters(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(url + "/metrics").text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_cache_and_payload_counters_on_metrics(serve: Callable[..., Server], tmp_path: Path) -> None:
    sink = tmp_path / "payloads.jsonl"
    server = serve(write_config(tmp_path / "c.yaml", CONFIG.format(
        journal=tmp_path / "journal", sink=json.dumps({"type": "jsonl", "path": str(sink)}))))
    assert wait_started(server.url).status_code == 200
    url = server.url + "/api/models/echo_model/prediction"
    for _ in range(3):
        assert httpx.post(url, json={"value": 4, "label": "secret"}).json() == {"doubled": 8.0, "label": "secret"}
    found = counters(server.url)
    model = ("model_name", "echo_model")
    assert found[("modelward_cache_requests_total", (model, ("result", "hit")))] == 2
    assert found[("modelward_cache_requests_total", (model, ("result", "miss")))] == 1
    assert found[("modelward_payload_journaled_total", (model,))] == 3  # cached answers are logged too
    assert found[("modelward_payload_fsyncs_total", (model,))] == 3  # one at a time: one fsync each
    deadline = time.monotonic() + 10
    while len(sink.read_text().splitlines() if sink.exists() else []) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    records = [json.loads(line) for line in sink.read_text().splitlines()]
    assert [r["request"]["label"] for r in records] == ["****"] * 3


def test_a_dead_sink_is_a_health_problem(serve: Callable[..., Server], tmp_path: Path) -> None:
    sink = {"type": "cloudevents", "url": f"http://127.0.0.1:{free_port()}/events", "timeout": 1}
    server = serve(write_config(tmp_path / "c.yaml", CONFIG.format(journal=tmp_path / "journal",
                                                                   sink=json.dumps(sink))))
    assert wait_started(server.url).status_code == 200
    assert httpx.post(server.url + "/api/models/echo_model/prediction", json={"value": 1}).status_code == 200
    deadline = time.monotonic() + 10
    health = httpx.get(server.url + "/api/health").json()
    while "problems" not in health and time.monotonic() < deadline:
        time.sleep(0.1)
        health = httpx.get(server.url + "/api/health").json()
    assert health["health_status"] == "HEALTHY"
    # anonymous clients learn which model has a problem; the sink's address stays in the log
    assert health["problems"] == ["echo_model: a decorator reports a problem; see the service log"]
    assert "payload sink cloudevents" in server.output() and "records stay in the journal" in server.output()
