"""Adaptive batching in a real `modelward serve`: per-request isolation under concurrency, backpressure, drain."""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Server, child_env, wait_started, write_config
from tests.policy.helpers import write_policy

pytestmark = pytest.mark.integration
MODEL = "batch_echo_model"


def batching_service(tmp_path: Path, *, delay: float, batching: str, policy: bool = False) -> Path:
    decorators = ""
    if policy:
        decorators = f"""
    decorators:
      - class_path: modelward.policy.PolicyDecorator
        configuration:
          package: echo_policy
          policies: [{write_policy(tmp_path / "policies")}]
          decision_log: {{path: {tmp_path / "decisions.jsonl"}, include_input: true}}"""
    return write_config(tmp_path / "svc.yaml", f"""\
models:
  - class_path: tests.fixtures.BatchEchoModel
    configuration: {{delay: {delay}, sizes_file: {tmp_path / "sizes.txt"}}}
    batching: {batching}{decorators}
""")


def post(url: str, body: Any, rid: str) -> httpx.Response:
    return httpx.post(f"{url}/api/models/{MODEL}/prediction", json=body, headers={"x-request-id": rid}, timeout=30)


def metric(text: str, name: str) -> float:
    match = re.search(rf'^{re.escape(name)}{{model_name="{MODEL}"}} (\S+)$', text, re.MULTILINE)
    assert match, f"{name} not in /metrics:\n{text}"
    return float(match.group(1))


def test_every_caller_gets_its_own_answer_in_shared_batches(serve: Callable[..., Server], tmp_path: Path) -> None:
    config = batching_service(tmp_path, delay=0.03, policy=True,
                              batching="{max_batch_size: 16, max_batch_latency: 20, max_queue: 1024}")
    server = serve(config, env=child_env(MODELWARD_DATA_DIR=str(tmp_path / "data")))
    assert wait_started(server.url).status_code == 200, server.output()
    # (body, expected status, expected JSON or None): valid, schema-invalid, model-raising, bad output,
    # denied by the input policy, denied by the output policy; several rounds, all at once
    cases: list[tuple[str, dict[str, Any], int, Any]] = []
    for n in range(8):
        cases += [
            (f"ok-{n}", {"value": n, "label": f"ok-{n}"}, 200, {"doubled": 2.0 * n, "label": f"ok-{n}"}),
            (f"invalid-{n}", {"value": -1, "label": f"invalid-{n}"}, 422, None),
            (f"boom-{n}", {"value": n, "label": "boom"}, 500, None),
            (f"badout-{n}", {"value": n, "label": "bad-output"}, 500, None),
            (f"deny-in-{n}", {"value": 200 + n, "label": f"deny-in-{n}"}, 200, {"messages": ["value above 100"]}),
            (f"deny-out-{n}", {"value": 80 + n, "label": f"deny-out-{n}"}, 200,
             {"messages": ["output above 150"]}),
        ]
    with ThreadPoolExecutor(max_workers=len(cases)) as pool:
        answers = list(pool.map(lambda case: post(server.url, case[1], case[0]), cases))
    for (rid, _, status, expected), answer in zip(cases, answers, strict=True):
        assert answer.status_code == status, (rid, answer.text)
        assert answer.headers["x-request-id"] == rid
        if expected is not None:
            assert answer.json() == expected, rid
    assert answers[1].json()["type"] == "SchemaValidationError"
    assert answers[2].json()["type"] == "PredictionError" and "ValueError" in answers[2].text
    assert "output schema" in answers[3].text
    sizes = [int(line) for line in (tmp_path / "sizes.txt").read_text().split()]
    assert max(sizes) > 1, sizes  # batches really formed
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    batches, inputs = metric(text, "modelward_batch_size_count"), metric(text, "modelward_batch_size_sum")
    assert inputs > batches >= 1  # more than one input per batch on average
    assert metric(text, "modelward_batch_queue_depth") == 0
    assert metric(text, "modelward_batch_wait_seconds_count") == batches
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=20)
    records = [json.loads(line) for line in (tmp_path / "decisions.jsonl").read_text().splitlines()]
    assert len(records) >= 8 * 5
    for record in records:  # each decision-log line carries the id of the request whose input it judged
        rid, label = record["request_id"], record["input"]["model_input"]["label"]
        assert rid == label or (label in ("boom", "bad-output") and rid.startswith(("boom-", "badout-"))), record
    denied = {r["request_id"] for r in records if r["result"] == "deny"}
    assert denied == {f"deny-in-{n}" for n in range(8)} | {f"deny-out-{n}" for n in range(8)}
    assert not any(r["request_id"].startswith("invalid-") for r in records)


def test_a_full_queue_answers_503_with_retry_after(serve: Callable[..., Server], tmp_path: Path) -> None:
    config = batching_service(tmp_path, delay=0.3, batching="{max_batch_size: 1, max_queue: 2}")
    server = serve(config)
    assert wait_started(server.url).status_code == 200, server.output()
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda n: post(server.url, {"value": n, "label": f"q{n}"}, f"q{n}"), range(8)))
    refused = [a for a in answers if a.status_code == 503]
    served = [a for a in answers if a.status_code == 200]
    assert refused and served and len(refused) + len(served) == 8, [a.status_code for a in answers]
    for answer in refused:
        assert answer.json()["type"] == "ServiceOverloaded"
        assert int(answer.headers["retry-after"]) >= 1
    for answer in served:
        assert answer.json()["label"] == answer.headers["x-request-id"]
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert metric(text, "modelward_batch_rejected_total") == len(refused)
    assert "Traceback" not in server.output()


def test_sigterm_answers_the_queued_requests_before_exit(serve: Callable[..., Server], tmp_path: Path) -> None:
    config = batching_service(tmp_path, delay=0.25, batching="{max_batch_size: 1, max_queue: 100}")
    server = serve(config)
    assert wait_started(server.url).status_code == 200, server.output()
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(post, server.url, {"value": n, "label": f"t{n}"}, f"t{n}") for n in range(6)]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # wait until the queue holds requests, then stop the server
            if metric(httpx.get(f"{server.url}/metrics", timeout=10).text, "modelward_batch_queue_depth") >= 3:
                break
            time.sleep(0.02)
        server.process.send_signal(signal.SIGTERM)
        answers = [future.result() for future in futures]
    assert [a.status_code for a in answers] == [200] * 6
    assert [a.json()["label"] for a in answers] == [f"t{n}" for n in range(6)]
    assert server.process.wait(timeout=20) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled
    assert "Traceback" not in server.output()
    assert (tmp_path / "sizes.txt").read_text().split() == ["1"] * 6
