"""The README's step-by-step commands run as written (paths moved to a temporary folder)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, child_env, free_port, stop, wait_for, wait_started

pytestmark = pytest.mark.integration


def blocks_after(heading: str) -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def commands(block: str) -> list[str]:
    """Shell commands of a block, with continuation lines joined and comments dropped."""
    joined = block.replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_first_service_step_by_step(tmp_path: Path) -> None:
    setup, calls = blocks_after("## A first service, step by step")
    state = str(tmp_path / "demo")
    port = str(free_port())

    def relocate(line: str) -> str:
        return (line.replace("$PWD/.demo", state).replace("../.demo", state).replace(".demo", state)
                .replace("8080", port))

    lines = [relocate(line) for line in commands(setup)]
    *prepare, serve_line = lines
    bin_dir = str(Path(sys.executable).parent)
    env = child_env(PATH=bin_dir + os.pathsep + os.environ["PATH"])
    script = "\n".join(line for line in prepare if not line.startswith(". .venv"))
    result = subprocess.run(["bash", "-euc", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "16 passed, 0 failed" in result.stdout
    assignments, command = serve_line.split(" modelward ", 1)
    serve_env = dict(env)
    for item in shlex.split(assignments):
        key, value = item.split("=", 1)
        serve_env[key] = value.replace("$PWD", str(ROOT))
    for item in shlex.split(next(line for line in prepare if line.startswith("export "))[len("export "):]):
        key, value = item.split("=", 1)
        serve_env[key] = value
    process = subprocess.Popen([str(Path(bin_dir) / "modelward"), *shlex.split(command)], cwd=ROOT, env=serve_env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(url, process)
        assert wait_started(url).status_code == 200
        expected = [line.strip()[2:] for line in calls.splitlines() if line.strip().startswith("# ")]
        for call, answer in zip(commands(calls), expected, strict=True):
            output = subprocess.run(["bash", "-c", relocate(call)], capture_output=True, text=True, timeout=30,
                                    check=True).stdout
            assert json.loads(output) == json.loads(answer)
    finally:
        stop(process)
