"""A real `modelward serve` with the payload log, SIGKILLed mid-stream: every 200 reaches the sink."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, child_env, free_port, wait_started, write_config
from tests.decorators.kafka_broker import Broker

pytestmark = pytest.mark.integration

CONFIG = """\
service_title: Payload log
models:
  - qualified_name: echo_model
    class_path: tests.fixtures.EchoModel
    decorators:
      - class_path: modelward.decorators.PayloadLogDecorator
        configuration:
          journal: {journal}
          fsync: always
          batch_size: 7
          max_backoff: 0.2
          sink: {{type: jsonl, path: "${{SINK_DIR}}/payloads.jsonl"}}
"""


def send_until_killed(server: Server, prefix: str, kill_after: int) -> list[str]:
    """Send predictions from 4 threads; SIGKILL the server after ``kill_after`` answers; the acknowledged ids."""
    acknowledged: list[str] = []
    lock = threading.Lock()

    def client(worker: int) -> None:
        with httpx.Client(base_url=server.url, timeout=5) as http:
            for n in range(10_000):
                rid = f"{prefix}-{worker}-{n}"
                try:
                    answer = http.post("/api/models/echo_model/prediction", json={"value": n},
                                       headers={"X-Request-ID": rid})
                except httpx.TransportError:
                    return  # the server is gone: this request was never acknowledged
                if answer.status_code == 200:
                    with lock:
                        acknowledged.append(rid)
                        if len(acknowledged) == kill_after:
                            server.process.send_signal(signal.SIGKILL)

    threads = [threading.Thread(target=client, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    server.process.wait(timeout=10)
    assert server.process.returncode == -signal.SIGKILL
    return acknowledged


def sink_ids(sink: Path) -> set[str]:
    found = set()
    for line in sink.read_text(encoding="utf-8").splitlines() if sink.exists() else []:
        try:
            found.add(json.loads(line)["request_id"])
        except ValueError:
            continue  # a batch torn by the kill; shipped again after the restart
    return found


def test_acknowledged_predictions_survive_sigkill_and_a_dead_sink(serve: Callable[..., Server],
                                                                  tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.yaml", CONFIG.format(journal=tmp_path / "journal"))
    (tmp_path / "not-a-dir").write_text("a file where the sink's folder should be", encoding="utf-8")
    sink = tmp_path / "sink" / "payloads.jsonl"

    down = serve(config, env=child_env(SINK_DIR=str(tmp_path / "not-a-dir")))  # the sink cannot be written
    assert wait_started(down.url).status_code == 200
    first = send_until_killed(down, "a", kill_after=60)
    assert not sink.exists()

    shipping = serve(config, env=child_env(SINK_DIR=str(tmp_path / "sink")))
    assert wait_started(shipping.url).status_code == 200
    second = send_until_killed(shipping, "b", kill_after=150)  # killed while it ships

    final = serve(config, env=child_env(SINK_DIR=str(tmp_path / "sink")))
    assert wait_started(final.url).status_code == 200
    deadline = time.monotonic() + 30
    while not set(first + second) <= sink_ids(sink) and time.monotonic() < deadline:
        time.sleep(0.1)
    missing = set(first + second) - sink_ids(sink)
    assert not missing, f"{len(missing)} acknowledged predictions are not in the sink: {sorted(missing)[:5]}"
    assert len(first) >= 60 and len(second) >= 150


KAFKA_CONFIG = """\
service_title: Payload log to Kafka
models:
  - qualified_name: echo_model
    class_path: tests.fixtures.EchoModel
    decorators:
      - class_path: modelward.decorators.PayloadLogDecorator
        configuration:
          journal: {journal}
          batch_size: 7
          max_backoff: 0.2
          sink: {{type: kafka, bootstrap_servers: "{broker}", topic: payloads, timeout: 2}}
"""


def test_acknowledged_predictions_reach_kafka_across_a_sigkill(serve: Callable[..., Server], tmp_path: Path) -> None:
    kafka = Broker(free_port(), tmp_path / "broker.log")
    try:
        kafka.start()
        config = write_config(tmp_path / "config.yaml", KAFKA_CONFIG.format(journal=tmp_path / "journal",
                                                                            broker=kafka.address))
        first = serve(config)
        assert wait_started(first.url).status_code == 200
        acknowledged = send_until_killed(first, "k", kill_after=120)
        again = serve(config)  # resumes shipping from the committed offset
        assert wait_started(again.url).status_code == 200
        deadline = time.monotonic() + 30
        found: set[str] = set()
        while not set(acknowledged) <= found and time.monotonic() < deadline:
            found = {m["request_id"] for m in kafka.messages(at_least=len(acknowledged), timeout=2)}
        missing = set(acknowledged) - found
        assert not missing, f"{len(missing)} acknowledged predictions are not in Kafka: {sorted(missing)[:5]}"
        assert len(acknowledged) >= 120
    finally:
        kafka.kill()
