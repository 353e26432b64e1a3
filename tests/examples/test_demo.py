"""`make demo`'s script, end to end: key, train + sign, policy tests, deploy, catalog, answers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, child_env


@pytest.mark.integration
def test_demo_smoke_run_serves_verified_models_with_policy(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "examples/demo.py", "--smoke", "--state", str(tmp_path / "state")],
                            cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=600, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "verify    ok" in output and "validate  ok" in output and "record    ok" in output
    assert "16 policy tests pass" in output
    assert "smoke check: allowed -> 200 {\"charges\":" in output
    assert "smoker over the age of 60" in output
    assert "downstream\n  deployment" in output  # lineage from the data to the running endpoint
    assert output.count(": stopped") == 2
