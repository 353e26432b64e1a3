"""Registering signed packages: verified, filled in, idempotent on the same bytes, 409 on others."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelward import catalog as c
from modelward.artifacts import CodeRef, DatasetRef, Keyring, Training, build_package, generate_key, load_signer
from modelward.cli.main import main
from modelward.errors import Conflict, UnknownKey
from modelward.services.registration import ModelDetails, register_package

TRAINING = Training(datasets=(DatasetRef(name="charges", uri="s3://data/charges.csv", digest="sha256:dd"),),
                    code=CodeRef(repository="https://git.example/icm", commit="abc123"),
                    metrics={"r2": 0.87}, owner="greg")


def _package(tmp_path: Path, signer_dir: Path, keyring: Keyring, name: str, payload: bytes) -> Path:
    folder = tmp_path / f"src-{name}"
    folder.mkdir()
    (folder / "model.bin").write_bytes(payload)
    key = generate_key(signer_dir, keyring=keyring) if not len(keyring) else None
    private = key.private_path if key else next(signer_dir.iterdir())
    output = tmp_path / f"{name}.zip"
    build_package(folder, output, qualified_name="icm", version="1.0.0", training=TRAINING,
                  signer=load_signer(private))
    return output


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return Keyring()


def test_signed_package_fills_the_catalog(tmp_path: Path, keyring: Keyring) -> None:
    catalog = c.open_catalog(f"sqlite:///{tmp_path / 'cat.db'}", migrate=True)
    package = _package(tmp_path, tmp_path / "keys", keyring, "a", b"weights-1")
    done = register_package(catalog, package, actor="alice", keyring=keyring,
                            details=ModelDetails(line_of_business="pricing", tags=("insurance",)))
    assert done.created and done.verified
    view = c.get_version(catalog, name="icm", version="1.0.0")
    assert view.signing_key_id == next(iter(keyring)).key_id and view.owner == "greg"
    assert view.code_commit == "abc123" and [d.digest for d in view.datasets] == ["sha256:dd"]
    assert view.artifact_uri == package.resolve().as_uri() and view.artifact_digest.startswith("sha256:")
    assert view.manifest["model"]["qualified_name"] == "icm" and view.manifest_digest
    assert not register_package(catalog, package, actor="alice", keyring=keyring).created
    other = _package(tmp_path, tmp_path / "keys", keyring, "b", b"weights-2")
    with pytest.raises(Conflict, match="already registered"):
        register_package(catalog, other, actor="alice", keyring=keyring)


def test_unknown_signer_is_refused(tmp_path: Path, keyring: Keyring) -> None:
    catalog = c.open_catalog(f"sqlite:///{tmp_path / 'cat.db'}", migrate=True)
    package = _package(tmp_path, tmp_path / "keys", keyring, "a", b"weights-1")
    with pytest.raises(UnknownKey):
        register_package(catalog, package, actor="alice", keyring=Keyring())
    assert c.list_models(catalog) == []


def test_register_command_exit_codes(tmp_path: Path, keyring: Keyring, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELWARD_DATA_DIR", str(tmp_path / "data"))
    package = _package(tmp_path, tmp_path / "keys", keyring, "a", b"weights-1")
    other = _package(tmp_path, tmp_path / "keys", keyring, "b", b"weights-2")
    ring = tmp_path / "ring"
    ring.mkdir()
    (ring / "keys.json").write_text(next(iter(keyring)).model_dump_json(), encoding="utf-8")
    assert main(["register", str(package), "--keyring", str(ring)]) == 0
    assert "icm@1.0.0 registered; signature verified" in capsys.readouterr().out
    assert main(["register", str(package), "--keyring", str(ring)]) == 0
    assert "nothing changed" in capsys.readouterr().out
    assert main(["register", str(other), "--keyring", str(ring)]) == 1
    assert "error: icm@1.0.0 is already registered" in capsys.readouterr().err


def test_register_command_uses_the_data_dirs_keyring_and_a_named_one_must_exist(
        tmp_path: Path, keyring: Keyring, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("MODELWARD_DATA_DIR", str(data))
    monkeypatch.delenv("MODELWARD_KEYRING", raising=False)
    package = _package(tmp_path, tmp_path / "keys", keyring, "a", b"weights-1")
    assert main(["register", str(package), "--keyring", str(tmp_path / "nowhere")]) == 1
    assert f"keyring {tmp_path / 'nowhere'} does not exist" in capsys.readouterr().err
    (data / "keyring").mkdir(parents=True)
    (data / "keyring" / "keys.json").write_text(next(iter(keyring)).model_dump_json(), encoding="utf-8")
    assert main(["register", str(package)]) == 0  # <data dir>/keyring, as `modelward keys` uses it
    assert "icm@1.0.0 registered; signature verified" in capsys.readouterr().out


@pytest.mark.parametrize(("name", "version", "message"), [
    ("icm", "1/2", "the package's version cannot be recorded in the catalog: version: must not contain '/'"),
    ("bad name", "1.0.0", "the package's model cannot be recorded in the catalog: qualified_name: must start with"),
])
def test_a_manifest_the_catalog_cannot_hold_is_one_error_line(
        tmp_path: Path, keyring: Keyring, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        name: str, version: str, message: str) -> None:
    monkeypatch.setenv("MODELWARD_DATA_DIR", str(tmp_path / "data"))
    key = generate_key(tmp_path / "keys", keyring=keyring)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.bin").write_bytes(b"weights")
    build_package(tmp_path / "m", tmp_path / "p.zip", qualified_name=name, version=version,
                  signer=load_signer(key.private_path))
    ring = tmp_path / "ring"
    ring.mkdir()
    (ring / "keys.json").write_text(next(iter(keyring)).model_dump_json(), encoding="utf-8")
    assert main(["register", str(tmp_path / "p.zip"), "--keyring", str(ring)]) == 1
    captured = capsys.readouterr()
    assert f"error: {message}" in captured.err and "Traceback" not in captured.err + captured.out
