"""Shared by the V2 tests: the served models, and running a peer client script in tests/.envs/peers."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.policy.helpers import write_policy

PEERS_PYTHON = ROOT / "tests" / ".envs" / "peers" / "bin" / "python"
CLIENTS = Path(__file__).resolve().parent / "v2_clients"


def v2_config(folder: Path) -> Path:
    """The echo model, and an echo model behind a Rego policy (values above 100 are denied)."""
    policies = write_policy(folder / "policies")
    config = folder / "v2.yaml"
    config.write_text(f"""service_title: v2 test service
models:
  - class_path: tests.fixtures.EchoModel
  - class_path: tests.policy.helpers.NamedEcho
    configuration: {{name: guarded_echo}}
    decorators:
      - class_path: modelward.policy.PolicyDecorator
        configuration: {{package: echo_policy, policies: ["{policies}"]}}
""", encoding="utf-8")
    return config


def run_client(script: str, target: str, *args: str, timeout: float = 120) -> dict[str, Any]:
    """Run ``v2_clients/<script>`` with the peers venv's Python; its stdout is one JSON document."""
    if not PEERS_PYTHON.exists():
        pytest.fail("the V2 client tests need tests/.envs/peers: run `bash scripts/test_envs.sh` (make test does)")
    done = subprocess.run([str(PEERS_PYTHON), str(CLIENTS / script), target, *args], capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
