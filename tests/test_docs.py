"""Docs that cannot go stale: the CLI and configuration references, and the README's commands."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_cli_and_configuration_references_are_current() -> None:
    result = subprocess.run([sys.executable, "scripts/cli_reference.py", "--check"], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_readme_starts_with_the_two_set_up_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_commands = [line.strip() for line in readme.splitlines() if line.strip().startswith("make ")][:2]
    assert first_commands == ["make demo", "make test"]


def test_every_doc_linked_from_the_readme_exists() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for line in readme.splitlines():
        if "](docs/" in line:
            target = line.split("](", 1)[1].split(")", 1)[0].split("#", 1)[0]
            assert (ROOT / target).is_file(), target
