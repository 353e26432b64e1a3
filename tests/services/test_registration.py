"""Registering signed packages: verified, filled in, idempotent on the same bytes, 409 on others."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelward import catalog as c
from modelward.artifacts import (
    CodeRef,
    DatasetRef,
    Keyring,
    Training,
    build_package,
    generate_key,
    load_signer,
    load_verified,
    open_store,
)
from modelward.cli.main import main
from modelward.errors import Conflict, UnknownKey
from modelward.services.registration import ModelDetails, register_package

TRAINING = Training(datasets=(DatasetRef(name="charges", uri="s3://data/charges.csv", digest="sha256:dd"),),
                    code=CodeRef(repository="https://git.example/icm", commit="abc123"),
                    metrics={"r2": 0.87}, owner="greg")


def _package(tmp_path: Path, signer_dir: Path, keyring: Keyring, name: str, payload: bytes,
             version: str = "1.0.0") -> Path:
    folder = tmp_path / f"src-{name}"
    folder.mkdir()
    (folder / "model.bin").write_bytes(payload)
    key = generate_key(signer_dir, keyring=keyring) if not len(keyring) else None
    private = key.private_path if key else next(signer_dir.iterdir())
    output = tmp_path / f"{name}.zip"
    build_package(folder, output, qualified_name="icm", version=version, training=TRAINING,
                  signer=load_signer(private))
    return output


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return Keyring()


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[c.Catalog]:
    handle = c.open_catalog(catalog_url)
    yield handle
    handle.dispose()


def _stored(store: Path) -> list[str]:
    return sorted(p.relative_to(store).as_posix() for p in store.rglob("*") if p.is_file())


def test_signed_package_fills_the_catalog(tmp_path: Path, keyring: Keyring, catalog: c.Catalog) -> None:
    store = tmp_path / "store"
    package = _package(tmp_path, tmp_path / "keys", keyring, "a", b"weights-1")
    done = register_package(catalog, package, actor="alice", keyring=keyring, store=open_store(str(store)),
                            details=ModelDetails(line_of_business="pricing", tags=("insurance",)))
    assert done.created and done.verified
    view = c.get_version(catalog, name="icm", version="1.0.0")
    assert view.signing_key_id == next(iter(keyring)).key_id and view.owner == "greg"
    assert view.line_of_business == "pricing"
    assert view.code_commit == "abc123" and [d.digest for d in view.datasets] == ["sha256:dd"]
    assert view.manifest["model"]["qualified_name"] == "icm" and view.manifest_digest
    assert not register_package(catalog, package, actor="alice", keyring=keyring, store=open_store(str(store))).created
    other = _package(tmp_path, tmp_path / "keys", keyring, "b", b"weights-2")
    with pytest.raises(Conflict, match="already registered"):
        register_package(catalog, other, actor="alice", keyring=keyring, store=open_store(str(store)))
    assert len(_stored(store)) == 1, "a refused package is not copied into the store"


def test_the_recorded_location_is_the_content_addressed_store_copy(tmp_path: Path, keyring: Keyring,
                                                                   catalog: c.Catalog) -> None:
    store = tmp_path / "store"
    package = _package(tmp_path, tmp_path / "keys", keyring, "a", b"weights-1")
    view = register_package(catalog, package, actor="alice", keyring=keyring, store=open_store(str(store))).version
    digest = "sha256:" + hashlib.sha256(package.read_bytes()).hexdigest()
    assert view.artifact_digest == digest
    stored = Path(view.artifact_uri.removeprefix("file://"))
    assert view.artifact_uri != package.resolve().as_uri(), "not the path the user typed"
    assert stored == (store / "sha256" / f"{digest.removeprefix('sha256:')}.zip").resolve()
    assert "sha256:" + hashlib.sha256(stored.read_bytes()).hexdigest() == view.artifact_digest
    package.unlink()  # the user's file may go: the catalog's location still holds the verified package
    load_verified(stored, keyring).close()


def test_a_package_folder_is_stored_as_one_verifiable_zip(tmp_path: Path, keyring: Keyring,
                                                         catalog: c.Catalog) -> None:
    key = generate_key(tmp_path / "keys", keyring=keyring)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "model.bin").write_bytes(b"weights")
    build_package(tmp_path / "src", tmp_path / "pkg", qualified_name="icm", version="2.0.0", training=TRAINING,
                  signer=load_signer(key.private_path))
    assert (tmp_path / "pkg").is_dir()
    view = register_package(catalog, tmp_path / "pkg", actor="alice", keyring=keyring,
                            store=open_store(str(tmp_path / "store"))).version
    stored = Path(view.artifact_uri.removeprefix("file://"))
    assert stored.is_relative_to((tmp_path / "store").resolve()) and stored.suffix == ".zip"
    assert "sha256:" + hashlib.sha256(stored.read_bytes()).hexdigest() == view.artifact_digest
    verified = load_verified(stored, keyring)
    assert verified.read_bytes("model.bin") == b"weights"
    verified.close()
    again = register_package(catalog, tmp_path / "pkg", actor="alice", keyring=keyring,
                             store=open_store(str(tmp_path / "store")))
    assert not again.created, "the same folder is the same bytes"


def test_unknown_signer_is_refused(tmp_path: Path, keyring: Keyring, catalog: c.Catalog) -> None:
    package = _package(tmp_path, tmp_path / "keys", keyring, "a", b"weights-1")
    with pytest.raises(UnknownKey) as caught:
        register_package(catalog, package, actor="alice", keyring=Keyring(), store=open_store(str(tmp_path / "s")))
    assert str(package) in str(caught.value) and "modelward-register-" not in str(caught.value)
    assert c.list_models(catalog) == []
    assert not (tmp_path / "s").exists() or _stored(tmp_path / "s") == [], "nothing stored"


def test_each_registration_keeps_its_own_owner(tmp_path: Path, keyring: Keyring, catalog: c.Catalog) -> None:
    store = open_store(str(tmp_path / "store"))
    first = _package(tmp_path, tmp_path / "keys", keyring, "a", b"weights-1")
    register_package(catalog, first, actor="alice", keyring=keyring, store=store,
                     details=ModelDetails(owner="ann", line_of_business="claims"))
    second = _package(tmp_path, tmp_path / "keys", keyring, "b", b"weights-2", version="2.0.0")
    register_package(catalog, second, actor="alice", keyring=keyring, store=store,
                     details=ModelDetails(line_of_business="pricing"))  # owner: the manifest's (greg)
    old, new = (c.get_version(catalog, name="icm", version=v) for v in ("1.0.0", "2.0.0"))
    assert (old.owner, old.line_of_business, new.owner, new.line_of_business) == ("ann", "claims", "greg", "pricing")
    assert c.get_model(catalog, name="icm").model.owner == "greg"


def test_register_command_exit_codes(tmp_path: Path, keyring: Keyring, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELWARD_DATA_DIR", str(tmp_path / "data"))
    package = _package(tmp_path, tmp_path / "keys", keyring, "a", b"weights-1")
    other = _package(tmp_path, tmp_path / "keys", keyring, "b", b"weights-2")
    ring = tmp_path / "ring"
    ring.mkdir()
    (ring / "keys.json").write_text(next(iter(keyring)).model_dump_json(), encoding="utf-8")
    assert main(["register", str(package), "--keyring", str(ring), "--owner", "ann", "--lob", "claims"]) == 0
    out = capsys.readouterr().out
    assert "icm@1.0.0 registered; signature verified" in out
    assert f"stored at {(tmp_path / 'data' / 'store' / 'sha256').resolve().as_uri()}/" in out
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
