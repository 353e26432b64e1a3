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


def test_render_refuses_a_host_path_package_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = yaml.safe_load((DATA / "minimal" / "deployment.yaml").read_text(encoding="utf-8"))
    document["package"] = "packages/diabetes-0.1.0.zip"  # relative to the file: a path on this machine
    (tmp_path / "deployment.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    assert main(["render", str(tmp_path / "deployment.yaml"), "-t", "seldon"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == (
        f"error: model diabetes_progression_model: package '{tmp_path / 'packages' / 'diabetes-0.1.0.zip'}' is a "
        "path on this machine, which a pod cannot read; give an s3:// URI (package: s3://BUCKET/diabetes-0.1.0.zip, "
        "or MODELWARD_STORE_URL=s3://... for `modelward deploy`) or a path inside the image (kubernetes.package: "
        "/service/packages/diabetes-0.1.0.zip)")
