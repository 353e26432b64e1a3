"""A decision log that cannot be written, in a real service: predictions go on, health says why, no traceback."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, child_env, wait_started, write_config
from tests.policy.helpers import write_policy

pytestmark = pytest.mark.integration


def test_unwritable_decision_log_is_a_health_problem_not_a_traceback_per_batch(
        serve: Callable[..., Server], tmp_path: Path) -> None:
    policies = write_policy(tmp_path / "policies")
    (tmp_path / "not_a_folder").write_text("a file where the log's folder should be")
    config = write_config(tmp_path / "svc.yaml", f"""\
models:
  - class_path: tests.policy.helpers.NamedEcho
    configuration: {{name: logged_model}}
    decorators:
      - class_path: modelward.policy.PolicyDecorator
        configuration:
          package: echo_policy
          policies: [{policies}]
          decision_log: {{path: {tmp_path / "not_a_folder" / "decisions.jsonl"}}}
""")
    server = serve(config, env=child_env(MODELWARD_DATA_DIR=str(tmp_path / "data")))
    assert wait_started(server.url).status_code == 200, server.output()
    for value in range(3):
        answer = httpx.post(f"{server.url}/api/models/logged_model/prediction", json={"value": value}, timeout=10)
        assert answer.status_code == 200
        time.sleep(0.1)  # a batch each (an input and an output decision)
    health = httpx.get(f"{server.url}/api/health", timeout=10).json()
    assert health["health_status"] == "HEALTHY"
    assert health["problems"] == ["logged_model: a decorator reports a problem; see the service log"]
    assert "Traceback" not in server.output()
    assert server.output().count("could not be written") == 1, server.output()
