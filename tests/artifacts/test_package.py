"""Building, signing, inspecting and loading a real package, in both forms."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from modelward.artifacts import (
    KNOWN_CASES_NAME,
    Manifest,
    build_package,
    load_verified,
    parse_manifest,
    read_manifest,
    read_signature,
    sign_package,
)
from modelward.errors import PackageFormatError, SignatureInvalid
from tests.artifacts.conftest import TRAINING, Keys


def test_zip_package_verifies_and_loads(package: Path, keys: Keys) -> None:
    with load_verified(package, keys.keyring()) as verified:
        assert verified.key_id == "team-2026"
        assert verified.manifest.model.qualified_name == "toy_model"
        assert verified.manifest_digest is not None and verified.manifest_digest.startswith("sha256:")
        model = verified.load("model.joblib")
        cases = verified.known_cases()
    assert len(cases) == 3
    prediction = model.predict(np.array([cases[0]["input"]["x"]]))[0]
    assert abs(prediction - cases[0]["output"]["y"]) < 1e-9


def test_manifest_records_files_training_reports_and_pickle_globals(package: Path) -> None:
    manifest = read_manifest(package)
    paths = [entry.path for entry in manifest.files]
    assert paths == ["metrics.json", "model.joblib", "reports/data_profile.html", KNOWN_CASES_NAME]
    assert manifest.known_cases == KNOWN_CASES_NAME
    assert manifest.training.owner == "risk-team"
    entry = manifest.file("model.joblib")
    assert entry.format == "joblib"
    assert "sklearn.pipeline:Pipeline" in entry.globals
    assert all(e.digest.startswith("sha256:") and len(e.digest) == 71 for e in manifest.files)


def test_manifest_bytes_are_canonical_and_reparse(package: Path) -> None:
    with zipfile.ZipFile(package) as archive:
        data = archive.read("manifest.json")
    manifest = parse_manifest(data)
    assert isinstance(manifest, Manifest)
    assert manifest.canonical_bytes() == data
    with pytest.raises(PackageFormatError, match="canonical"):
        parse_manifest(data.replace(b'{"', b'{ "', 1))


def test_directory_form_signed_afterwards(tmp_path: Path, model_files: Path, keys: Keys) -> None:
    output = tmp_path / "pkg"
    build_package(model_files, output, qualified_name="toy_model", version="1.0.0", training=TRAINING)
    assert read_signature(output) is None
    with pytest.raises(SignatureInvalid, match="not signed"):
        load_verified(output, keys.keyring())
    sign_package(output, keys.signer)
    with load_verified(output, keys.keyring()) as verified:
        path = verified.path("reports/data_profile.html")
        assert path.read_text() == "<html>profile</html>"
    assert not path.exists(), "the private verified copy is deleted on close"


def test_unsigned_package_loads_only_when_allowed(tmp_path: Path, model_files: Path, keys: Keys,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    output = tmp_path / "pkg.zip"
    build_package(model_files, output, qualified_name="toy_model", version="1.0.0")
    with load_verified(output, keys.keyring(), allow_unsigned=True) as verified:
        assert verified.key_id is None
    assert "UNSIGNED" in caplog.text


def test_resigning_a_zip_replaces_the_signature(package: Path, keys: Keys) -> None:
    first = read_signature(package)
    sign_package(package, keys.signer)
    with zipfile.ZipFile(package) as archive:
        assert archive.namelist().count("signature.json") == 1
    with load_verified(package, keys.keyring()) as verified:
        assert verified.signed_at is not None and first is not None
        assert verified.signed_at >= first.signed_at


def test_packaging_refuses_links_and_reserved_names(tmp_path: Path, model_files: Path) -> None:
    (model_files / "manifest.json").write_text("{}")
    with pytest.raises(PackageFormatError, match=r"manifest\.json"):
        build_package(model_files, tmp_path / "x.zip", qualified_name="m", version="1")


def test_build_refuses_bad_inputs_and_outputs_with_clear_errors(tmp_path: Path, model_files: Path) -> None:
    def build(folder: Path, output: Path, name: str = "m") -> None:
        build_package(folder, output, qualified_name=name, version="1")

    with pytest.raises(PackageFormatError, match=r"missing: no such folder"):
        build(tmp_path / "missing", tmp_path / "a.zip")
    with pytest.raises(PackageFormatError, match=r"metrics\.json: is not a folder"):
        build(model_files / "metrics.json", tmp_path / "a.zip")
    with pytest.raises(PackageFormatError, match="qualified name and version must not be empty"):
        build(model_files, tmp_path / "a.zip", name="")
    (tmp_path / "dir.zip").mkdir()
    with pytest.raises(PackageFormatError, match=r"dir\.zip: is a directory; give the path of a new \.zip"):
        build(model_files, tmp_path / "dir.zip")
    (tmp_path / "plain").write_text("x")
    with pytest.raises(PackageFormatError, match="plain: exists and is not an empty directory"):
        build(model_files, tmp_path / "plain")
    with pytest.raises(PackageFormatError, match=r"cannot write the package .*metrics\.json/a\.zip"):
        build(model_files, model_files / "metrics.json" / "a.zip")
    assert not (tmp_path / "a.zip").exists() and (tmp_path / "plain").read_text() == "x"


def test_directory_package_is_not_left_half_written(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    deep = folder.joinpath(*["d" * 200] * 4)  # 800 characters below the folder
    deep.mkdir(parents=True)
    (folder / "a.bin").write_bytes(b"first")
    (deep / "f.bin").write_bytes(b"second")
    parent = tmp_path.joinpath(*["o" * 250] * 13)  # output/<deep>/f.bin is longer than PATH_MAX (4096)
    parent.mkdir(parents=True)
    output = parent / "pkg"
    with pytest.raises(PackageFormatError, match=r"cannot write the package .*pkg: File name too long"):
        build_package(folder, output, qualified_name="m", version="1")
    assert list(parent.iterdir()) == [], "neither the package nor its temporary folder is left behind"


def test_unreadable_known_cases_are_a_package_format_error(tmp_path: Path, model_files: Path, keys: Keys) -> None:
    for content, reason in ((b"\xff\xfe{}\n", r"not UTF-8 text \(invalid start byte at byte 0\)"),
                            (b'{"input": {}}\n[1, 2]\n', "line 2: a known case is a JSON object, not list"),
                            (b'{"input": {}}\n\n{oops\n', "line 3: Expecting property name")):
        (model_files / KNOWN_CASES_NAME).write_bytes(content)
        output = tmp_path / f"cases-{len(content)}.zip"
        build_package(model_files, output, qualified_name="m", version="1", signer=keys.signer)
        with load_verified(output, keys.keyring()) as verified, \
                pytest.raises(PackageFormatError, match=rf"validation\.jsonl: {reason}"):
            verified.known_cases()
