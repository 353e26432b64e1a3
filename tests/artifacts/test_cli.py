"""The artifacts commands, called through ``modelward.cli.main.main``."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelward.cli.main import main
from tests.conftest import free_port


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MODELWARD_DATA_DIR", str(tmp_path / "data"))
    for name in ("MODELWARD_KEYRING", "MODELWARD_STORE_URL", "MODELWARD_S3_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "data"


def test_generate_build_sign_verify_push_pull_revoke(data_dir: Path, model_files: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "generate", "--key-id", "ci-1"]) == 0
    assert main(["keys", "list"]) == 0
    assert "ci-1  ed25519  trusted" in capsys.readouterr().out
    package = tmp_path / "toy.zip"
    assert main(["package", "build", str(model_files), str(package), "--name", "toy_model", "--version", "1",
                 "--owner", "risk", "--dataset", "train=s3://data/train.csv@sha256:" + "a" * 64,
                 "--report", "reports/data_profile.html"]) == 0
    assert "UNSIGNED" in capsys.readouterr().out
    assert main(["verify", str(package)]) == 1
    assert "is not signed" in capsys.readouterr().err
    assert main(["sign", str(package), "--key", str(data_dir / "private-keys" / "ci-1.pem")]) == 0
    assert main(["package", "inspect", str(package)]) == 0
    shown = capsys.readouterr().out
    assert "(not verified)" in shown and "dataset train s3://data/train.csv" in shown and "ci-1" in shown
    assert main(["verify", str(package)]) == 0
    assert "signed by ci-1 at" in capsys.readouterr().out
    assert main(["push", str(package)]) == 0
    assert main(["pull", "toy.zip", str(tmp_path / "pulled.zip")]) == 0
    assert main(["verify", str(tmp_path / "pulled.zip")]) == 0
    assert main(["keys", "revoke", "ci-1"]) == 0
    capsys.readouterr()
    assert main(["verify", str(package)]) == 1
    assert "error: key 'ci-1' was revoked" in capsys.readouterr().err


def test_verify_tampered_package_exits_1_naming_the_file(data_dir: Path, package: Path, keys: object,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    with package.open("ab") as handle:
        handle.write(b"x")
    assert main(["verify", str(package), "--keyring", str(package.parent / "keyring")]) == 1
    assert "1 bytes are appended after the end of the archive" in capsys.readouterr().err


def test_store_down_exits_1_with_a_clear_message(data_dir: Path, keys: object, package: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "TEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "ASDFGHJKL")
    endpoint = f"http://127.0.0.1:{free_port()}"
    assert main(["pull", "toy.zip", "x.zip", "--store", "s3://models", "--endpoint-url", endpoint]) == 1
    assert "cannot be reached" in capsys.readouterr().err
    assert main(["verify", "s3://models/toy.zip", "--keyring", str(package.parent / "keyring"),
                 "--endpoint-url", endpoint]) == 1
    assert f"endpoint {endpoint}) cannot be reached" in capsys.readouterr().err


def test_openssf_sign_from_the_cli(data_dir: Path, model_files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "generate", "--key-id", "ec", "--algorithm", "ecdsa-p256"]) == 0
    assert main(["sign", str(model_files), "--openssf", "--key", str(data_dir / "private-keys" / "ec.pem")]) == 0
    assert main(["verify", str(model_files)]) == 0
    assert "signed by ec (openssf-model-signing)" in capsys.readouterr().out


def test_keys_generate_with_a_new_json_keyring_writes_a_keyring_file(data_dir: Path, tmp_path: Path) -> None:
    ring = tmp_path / "ring.json"
    assert main(["keys", "generate", "--key-id", "ci-1", "--keyring", str(ring)]) == 0
    assert ring.is_file() and main(["keys", "list", "--keyring", str(ring)]) == 0


def test_keys_generate_bad_key_id_exits_1(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "generate", "--key-id", "../evil"]) == 1
    assert "error: key id '../evil': use letters, digits" in capsys.readouterr().err
    assert list((data_dir / "keyring").iterdir()) == []


def test_package_build_checks_the_dataset_digest(data_dir: Path, model_files: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "toy.zip"
    base = ["package", "build", str(model_files), str(output), "--name", "toy_model", "--version", "1"]
    assert main([*base, "--dataset", "train=s3://data/train.csv@sha256:nothex"]) == 1
    assert "--dataset 'train=s3://data/train.csv@sha256:nothex': 'sha256:nothex' is not a digest" \
        in capsys.readouterr().err
    assert not output.exists()
    assert main([*base, "--dataset", "repo=git@github.com:acme/data.git@sha256:" + "b" * 64]) == 0
    assert main(["package", "inspect", str(output)]) == 0
    assert f"dataset repo git@github.com:acme/data.git sha256:{'b' * 64}" in capsys.readouterr().out


def test_verify_prints_every_extra_pickle_allowance(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import pickle
    from ipaddress import IPv4Address

    assert main(["keys", "generate", "--key-id", "ci-1"]) == 0
    key = str(data_dir / "private-keys" / "ci-1.pem")
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(pickle.dumps(IPv4Address("10.0.0.1")))
    package = str(tmp_path / "pkg.zip")
    capsys.readouterr()
    assert main(["package", "build", str(folder), package, "--name", "m", "--version", "1", "--key", key]) == 1
    assert "refuses global 'ipaddress:IPv4Address'" in capsys.readouterr().err
    assert main(["package", "build", str(folder), package, "--name", "m", "--version", "1", "--key", key,
                 "--allow-global", "ipaddress:IPv4Address"]) == 0
    assert "EXTRA PICKLE ALLOWANCE ipaddress:IPv4Address (allow_globals" in capsys.readouterr().out
    monkeypatch.setenv("MODELWARD_PICKLE_ALLOW", "uuid:SafeUUID")
    assert main(["verify", package]) == 0
    shown = capsys.readouterr().out
    assert "EXTRA PICKLE ALLOWANCE ipaddress:IPv4Address (allow_globals, signed with the package)" in shown
    assert "EXTRA PICKLE ALLOWANCE uuid:SafeUUID (MODELWARD_PICKLE_ALLOW, this machine)" in shown
    monkeypatch.setenv("MODELWARD_PICKLE_ALLOW", "os:system")
    assert main(["verify", package]) == 1
    assert "'os:system': module 'os' can never be allowed" in capsys.readouterr().err
