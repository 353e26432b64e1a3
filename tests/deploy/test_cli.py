"""``modelward render`` through the real command line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelward.cli.main import main

DATA = Path(__file__).resolve().parent.parent / "data" / "deploy"


def test_render_writes_the_golden_manifests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["render", str(DATA / "full" / "deployment.yaml"), "--target", "seldon", "-o", str(tmp_path)])
    assert status == 0
    assert "wrote 4 manifests" in capsys.readouterr().out
    written = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(tmp_path.glob("*.yaml"))]
    golden = list(yaml.safe_load_all((DATA / "full" / "golden" / "seldon.yaml").read_text(encoding="utf-8")))
    # the golden was rendered with a package digest; the command renders without one
    for manifest in (*written, *golden):
        notes = manifest.get("spec", {}).get("predictors", [{}])[0].get("componentSpecs", [{}])[0]
        notes.get("metadata", {}).get("annotations", {}).pop("modelward.io/package-digest", None)
    assert written == golden


def test_render_to_stdout_is_one_yaml_stream(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(DATA / "minimal" / "deployment.yaml")]) == 0
    kinds = [d["kind"] for d in yaml.safe_load_all(capsys.readouterr().out)]
    assert kinds == ["Namespace", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget"]


def test_render_bad_target_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(DATA / "minimal" / "deployment.yaml"), "-t", "mesos"]) == 1
    assert capsys.readouterr().err.strip() == (
        "error: target: 'mesos' has no manifests; choose one of kserve, kubernetes, seldon")
