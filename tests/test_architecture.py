"""The layers look only down (import-linter contract in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_importing_modelward_opens_nothing_and_reads_no_settings() -> None:
    code = ("import os, socket\n"
            "real = socket.socket.connect\n"
            "def refuse(*a, **k): raise AssertionError('connected at import time')\n"
            "socket.socket.connect = refuse\n"
            "os.environ['MODELWARD_PORT'] = 'not-a-port'\n"
            "import modelward, modelward.serving.app, modelward.cli.main\n"
            "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.stdout.strip() == "ok", result.stderr
