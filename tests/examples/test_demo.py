"""`make demo`'s script, end to end: key, train + sign, policy tests, deploy, catalog, answers."""

from __future__ import annotations

import re
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
    # the inference graph: both packages through every step, routes taken, the bandit's learned state
    assert "champion: insurance_charges_model@0.1.0 signed by demo-key" in output
    assert "challenger: insurance_charges_model@0.2.0 signed by demo-key" in output
    assert "graph insurance_graph@1.0.0 with 2 member versions" in output
    assert "route: bandit -> " in output and "outlier score: " in output
    answered = re.search(r"40 predictions: champion answered (\d+), challenger (\d+)", output)
    assert answered is not None and int(answered[1]) + int(answered[2]) == 40
    learned = re.findall(r"bandit state: (\w+) +feedback +(\d+)", output)
    assert [(name, int(n)) for name, n in learned] == [("champion", int(answered[1])),
                                                       ("challenger", int(answered[2]))]
    assert "member    node challenger: insurance_charges_model@0.2.0" in output  # the graph's lineage
    assert output.count(": stopped") == 3
