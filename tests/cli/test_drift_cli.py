"""``modelward drift`` on a signed package with a training profile and a payload log."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from modelward.artifacts import Keyring, build_package, generate_key, load_signer
from modelward.cli.main import main
from modelward.metrics.profile import build_profile


def rows(seed: int, n: int, mean: float = 40.0) -> list[dict[str, object]]:
    rng = random.Random(seed)
    return [{"age": round(rng.gauss(mean, 8)), "region": rng.choice(["north", "south"]), "smoker": rng.random() < 0.2}
            for _ in range(n)]


@pytest.fixture
def package(tmp_path: Path) -> tuple[Path, Path]:
    """A signed package whose profile.json profiles 2000 training rows, and its keyring."""
    keyring = tmp_path / "keyring"
    keyring.mkdir()
    key = generate_key(tmp_path / "private", key_id="team", keyring=Keyring.load(keyring))
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "model.json").write_text("{}", encoding="utf-8")
    (folder / "profile.json").write_text(json.dumps(build_profile(rows(1, 2000))), encoding="utf-8")
    output = tmp_path / "m.zip"
    build_package(folder, output, qualified_name="m", version="1.0", signer=load_signer(key.private_path))
    return output, keyring


def payload_log(path: Path, inputs: list[dict[str, object]], model: str = "m", version: str = "1.0") -> Path:
    with path.open("a", encoding="utf-8") as handle:
        for index, item in enumerate(inputs):
            handle.write(json.dumps({"id": str(index), "model": model, "version": version, "request": item,
                                     "response": {}, "decision": {"allowed": True}}) + "\n")
    return path


def test_no_drift_exits_0_with_a_table(package: tuple[Path, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    zipped, keyring = package
    log = payload_log(tmp_path / "payloads.jsonl", rows(2, 500))
    payload_log(log, rows(3, 50, mean=70), model="other")  # not this model's: left out
    with log.open("a", encoding="utf-8") as handle:
        handle.write('{"torn": \n')
    assert main(["drift", str(zipped), str(log), "--keyring", str(keyring)]) == 0
    out, err = capsys.readouterr()
    assert "m: 500 logged inputs" in out and "age" in out and "region" in out and "DRIFT" not in out
    assert "skipped 50 records of other models or versions and 1 unreadable lines" in err


def test_drift_exits_3_and_reports_json_and_gauges(package: tuple[Path, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    zipped, keyring = package
    log = payload_log(tmp_path / "payloads.jsonl", rows(2, 500, mean=55))
    gauges = tmp_path / "drift.prom"
    assert main(["drift", str(zipped), str(log), "--keyring", str(keyring), "--json",
                 "--metrics-file", str(gauges)]) == 3
    report = json.loads(capsys.readouterr().out)
    age = next(f for f in report["features"] if f["feature"] == "age")
    assert report["drifted"] and age["drifted"] and age["psi"] > 0.2
    assert not next(f for f in report["features"] if f["feature"] == "region")["drifted"]
    assert 'modelward_drift{feature="age",model_name="m",statistic="drifted"} 1.0' in gauges.read_text()


def test_a_package_without_a_profile_or_with_a_bad_signature_is_one_line(
        package: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    zipped, _ = package
    log = payload_log(tmp_path / "payloads.jsonl", rows(2, 10))
    empty = tmp_path / "empty-keyring"
    empty.mkdir()
    assert main(["drift", str(zipped), str(log), "--keyring", str(empty)]) == 1
    assert capsys.readouterr().err.startswith("error: ")
    folder = tmp_path / "bare"
    folder.mkdir()
    (folder / "model.json").write_text("{}", encoding="utf-8")
    keyring = tmp_path / "keyring"
    bare = tmp_path / "bare.zip"
    build_package(folder, bare, qualified_name="m", version="1.0",
                  signer=load_signer(next((tmp_path / "private").iterdir())))
    assert main(["drift", str(bare), str(log), "--keyring", str(keyring)]) == 1
    assert "holds no training profile" in capsys.readouterr().err
