"""The native feedback route on a real server: recorded durably, then handed to the chain."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, child_env, wait_started, write_config

pytestmark = pytest.mark.integration

CONFIG = """
models:
  - class_path: tests.fixtures.EchoModel
    decorators:
      - class_path: tests.fixtures.LearningDecorator
"""


def test_feedback_is_recorded_and_reaches_the_decorator(serve: Callable[..., Server], tmp_path: Path) -> None:
    log = tmp_path / "feedback.jsonl"
    server = serve(write_config(tmp_path / "c.yaml", CONFIG), env=child_env(MODELWARD_FEEDBACK_LOG=str(log)))
    assert wait_started(server.url).status_code == 200
    url = f"{server.url}/api/models/echo_model"
    first = httpx.post(f"{url}/prediction", json={"value": 1})
    assert json.loads(first.headers["x-modelward-meta"]) == {"rewards_seen": 0}
    feedback = {"request": {"value": 1}, "response": first.json(), "reward": 0.5, "routing": {"route": "a"},
                "request_id": first.headers["x-request-id"]}
    answer = httpx.post(f"{url}/feedback", json=feedback)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"model": "echo_model", "version": "1.0.0", "recorded": True,
                             "delivered_to": ["LearningDecorator"]}
    (record,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert (record["reward"], record["routing"], record["request_id"]) == (0.5, {"route": "a"},
                                                                          first.headers["x-request-id"])
    second = httpx.post(f"{url}/prediction", json={"value": 1})
    assert json.loads(second.headers["x-modelward-meta"]) == {"rewards_seen": 1}


@pytest.mark.parametrize(("body", "fragment"), [
    ({"reward": "high"}, "feedback.reward: expected a finite number"),
    ({"request": {}}, "give a 'reward' or a 'truth'"),
    ({"reward": 1, "colour": 2}, "unknown key(s) colour"),
    ([1], "must be a JSON object"),
])
def test_bad_feedback_is_400_and_not_recorded(serve: Callable[..., Server], tmp_path: Path, body: object,
                                              fragment: str) -> None:
    log = tmp_path / "feedback.jsonl"
    server = serve(write_config(tmp_path / "c.yaml", CONFIG), env=child_env(MODELWARD_FEEDBACK_LOG=str(log)))
    assert wait_started(server.url).status_code == 200
    answer = httpx.post(f"{server.url}/api/models/echo_model/feedback", json=body)
    assert answer.status_code == 400
    assert fragment in answer.json()["messages"][0]
    assert not log.exists()
    assert httpx.post(f"{server.url}/api/models/nope/feedback", json={"reward": 1}).status_code == 404
