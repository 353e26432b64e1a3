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
    assert "sklearn.pipeline.Pipeline" in entry.globals
    assert all(e.digest.startswith("sha256:") and len(e.digest) == 71 for e in manifest.files)


def test_manifest_bytes_are_canonical_and_reparse(package: Path) -> None:
    with zipfile.ZipFile(package) as archive:
        data = archive.read("manifest.json")
    manifest = parse_manifest(data)
    assert isinstance(manifest, Manifest)
    assert manifest.canonical_bytes() == data
    with pytest.raises(PackageFormatError, match="canonical"):
        parse_manifest(data.replace(b'{"created"', b'{ "created"', 1))


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
