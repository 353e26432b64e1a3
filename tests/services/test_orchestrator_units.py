"""Pieces of the orchestrator that need no server: the known-case gate and the kubectl step."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelward.errors import TargetError, ValidationFailed
from modelward.services.deploy_steps import apply_manifests, kubectl_command
from modelward.services.deploy_validate import KnownCase, Tolerance, mismatch, parse_cases
from modelward.services.registration import registry_key


def test_absolute_and_relative_tolerances() -> None:
    assert mismatch({"y": 10.0}, {"y": 10.004}, Tolerance(absolute=0.01)) is None
    assert mismatch({"y": 100.0}, {"y": 100.9}, Tolerance(relative=0.01)) is None
    assert mismatch({"y": 100.0}, {"y": 102.0}, Tolerance(relative=0.01)) == (
        "y: expected 100.0, got 102.0 (off by 2; tolerance relative 0.01)")
    assert mismatch({"y": 1}, {"y": 1.0}, Tolerance()) is None
    assert mismatch({"y": 1}, {"y": 1.5}, Tolerance()) == "y: expected 1, got 1.5 (off by 0.5; tolerance exact)"


def test_non_numbers_missing_fields_and_nan() -> None:
    assert mismatch({"label": "a"}, {"label": "b"}, Tolerance()) == "label: expected 'a', got 'b'"
    assert mismatch({"y": 1.0, "z": 2}, {"y": 1.0}, Tolerance()) == "output.z: missing from the model's answer"
    assert mismatch({"y": 1.0}, {"y": float("nan")}, Tolerance(absolute=1.0)) is not None
    assert mismatch({"v": [1.0, 2.0]}, {"v": [1.0, 2.5]}, Tolerance(absolute=0.1)).startswith("v[1]:")


def test_bad_known_case_lines_name_the_line() -> None:
    lines = ['{"input": {"x": 1}, "output": {"y": 1}}', "", '{"input": {"x": 1}}', "not json"]
    with pytest.raises(ValidationFailed, match=r"cases.jsonl line 3: not a known case: output"):
        parse_cases(lines, "cases.jsonl")
    with pytest.raises(ValidationFailed, match=r"line 4"):
        parse_cases([lines[0], lines[0], lines[0], lines[3]], "cases.jsonl")
    assert parse_cases(lines[:2], "cases.jsonl") == [KnownCase(input={"x": 1}, output={"y": 1})]


def test_the_kubectl_command_line(tmp_path: Path) -> None:
    assert kubectl_command(tmp_path) == ["kubectl", "apply", "-f", str(tmp_path)]


def test_apply_without_kubectl_says_so_and_how(tmp_path: Path) -> None:
    with pytest.raises(TargetError) as caught:
        apply_manifests(tmp_path, kubectl="kubectl-not-installed-here")
    assert "kubectl is not installed" in str(caught.value)
    assert f"kubectl-not-installed-here apply -f {tmp_path}" in str(caught.value)


def test_kubectl_failing_on_every_manifest_is_one_line(tmp_path: Path) -> None:
    # what kubectl prints without a cluster: one error per manifest file
    (tmp_path / "kubectl").write_text("#!/bin/sh\nfor f in a b c; do\n"
                                      "  echo \"error validating $f: connection refused\" >&2\ndone\nexit 1\n")
    (tmp_path / "kubectl").chmod(0o755)
    with pytest.raises(TargetError) as caught:
        apply_manifests(tmp_path, kubectl=str(tmp_path / "kubectl"))
    assert str(caught.value) == (f"`{tmp_path}/kubectl apply -f {tmp_path}` failed (1): error validating a: "
                                 "connection refused (and 2 more lines)")


def test_registry_keys_are_content_addresses() -> None:
    assert registry_key("sha256:" + "0f" * 32) == "sha256/" + "0f" * 32 + ".zip"
