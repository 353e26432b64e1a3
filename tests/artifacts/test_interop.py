"""The article's legacy artifacts (itsdangerous) and OpenSSF model-signing folders."""

from __future__ import annotations

import pickle
import shutil
import zipfile
from pathlib import Path

import pytest
from itsdangerous import Signer

from modelward.artifacts import generate_key, load_verified, sign_openssf
from modelward.errors import (
    ConfigurationError,
    KeyRevoked,
    ManifestMismatch,
    PackageFormatError,
    SignatureInvalid,
    UnknownKey,
    UnsafePickle,
)
from tests.artifacts.conftest import Keys, evil_pickle

SECRET = "wjtRFppXQpxTChQnNcQJKGlLHKJBmAHMepfFbqvOoUrnuxIsKdiLCrrypYFQsqcw"


def legacy_zip(tmp_path: Path, payload: bytes, secret: str = SECRET, suffix: bytes = b"") -> Path:
    """A zip made the article's way: Signer(secret).sign(pickle bytes) in signed_model.pkl, plus a report."""
    path = tmp_path / "diabetes_risk_model-0.1.0-2023_03_17.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("signed_model.pkl", Signer(secret).sign(payload) + suffix)
        archive.writestr("data_report.html", "<html></html>")
    return path


def test_legacy_artifact_verifies_and_loads_through_the_safe_loader(tmp_path: Path, keys: Keys) -> None:
    path = legacy_zip(tmp_path, pickle.dumps({"coef": [0.5, 1.5]}))
    with load_verified(path, keys.keyring(), legacy_secret=SECRET) as verified:
        assert verified.scheme == "legacy-itsdangerous"
        assert [e.path for e in verified.manifest.files] == ["model.pkl"]
        assert verified.load("model.pkl") == {"coef": [0.5, 1.5]}


def test_legacy_needs_the_secret(tmp_path: Path, keys: Keys) -> None:
    path = legacy_zip(tmp_path, pickle.dumps(1))
    with pytest.raises(SignatureInvalid, match="MODELWARD_LEGACY_HMAC_SECRET"):
        load_verified(path, keys.keyring())
    with pytest.raises(SignatureInvalid, match="itsdangerous signature does not match"):
        load_verified(path, keys.keyring(), legacy_secret="another secret")


def test_legacy_appended_byte_is_refused(tmp_path: Path, keys: Keys) -> None:
    path = legacy_zip(tmp_path, pickle.dumps(1), suffix=bytes([1]))
    with pytest.raises(SignatureInvalid, match="does not match"):
        load_verified(path, keys.keyring(), legacy_secret=SECRET)


def test_legacy_signed_payload_still_meets_the_allow_list(tmp_path: Path, keys: Keys) -> None:
    marker = tmp_path / "PWNED"
    path = legacy_zip(tmp_path, evil_pickle(marker))
    with load_verified(path, keys.keyring(), legacy_secret=SECRET) as verified, \
            pytest.raises(UnsafePickle, match=r"refuses global .posix:system."):
        verified.load("model.pkl")
    assert not marker.exists()


@pytest.fixture
def openssf_folder(tmp_path: Path, model_files: Path, keys: Keys) -> tuple[Path, Path]:
    folder = tmp_path / "openssf"
    shutil.copytree(model_files, folder)
    key = generate_key(keys.private_dir, key_id="ec-2026", algorithm="ecdsa-p256", keyring=keys.keyring())
    sign_openssf(folder, key.private_path)
    return folder, key.private_path


def test_openssf_signed_folder_loads(openssf_folder: tuple[Path, Path], keys: Keys) -> None:
    folder, _ = openssf_folder
    assert (folder / "model.sig").is_file()
    with load_verified(folder, keys.keyring()) as verified:
        assert verified.scheme == "openssf-model-signing"
        assert verified.key_id == "ec-2026"
        assert verified.manifest.known_cases == "validation.jsonl"
        assert len(verified.known_cases()) == 3
        names = {e.path for e in verified.manifest.files}
        assert names == {"metrics.json", "model.joblib", "reports/data_profile.html", "validation.jsonl"}


def test_openssf_signature_verifies_with_the_model_signing_library(openssf_folder: tuple[Path, Path],
                                                                   keys: Keys, tmp_path: Path) -> None:
    from model_signing import hashing, verifying

    folder, _ = openssf_folder
    public = tmp_path / "ec.pub"
    public.write_text(keys.keyring().get("ec-2026").public_key or "")
    config = verifying.Config().use_elliptic_key_verifier(public_key=public)
    config.set_hashing_config(hashing.Config().set_ignored_paths(paths=["model.sig"]))
    config.verify(folder, folder / "model.sig")


def test_openssf_tampered_file_and_unknown_key(openssf_folder: tuple[Path, Path], keys: Keys) -> None:
    folder, _ = openssf_folder
    (folder / "metrics.json").write_text('{"r2": 0.0}')
    with pytest.raises(ManifestMismatch, match=r"metrics\.json"):
        load_verified(folder, keys.keyring())
    (keys.keyring_dir / "ec-2026.json").unlink()
    with pytest.raises(UnknownKey, match="not an ecdsa-p256 key of the keyring"):
        load_verified(folder, keys.keyring())


def test_openssf_extra_file_is_refused(openssf_folder: tuple[Path, Path], keys: Keys) -> None:
    folder, _ = openssf_folder
    (folder / "evil.pkl").write_bytes(b"x")
    with pytest.raises(ManifestMismatch, match=r"not covered by the signature: evil\.pkl"):
        load_verified(folder, keys.keyring())


def test_openssf_signing_needs_an_ec_key_and_a_folder(tmp_path: Path, model_files: Path, keys: Keys) -> None:
    with pytest.raises(ConfigurationError, match=r"needs an ecdsa-p256 key, this one is ed25519"):
        sign_openssf(model_files, keys.private_dir / "team-2026.pem")
    assert not (model_files / "model.sig").exists()
    ec = generate_key(keys.private_dir, key_id="ec", algorithm="ecdsa-p256")
    with pytest.raises(PackageFormatError, match=r"missing: is not a folder"):
        sign_openssf(tmp_path / "missing", ec.private_path)


def test_openssf_revoked_key_names_the_folder(openssf_folder: tuple[Path, Path], keys: Keys) -> None:
    folder, _ = openssf_folder
    keys.keyring().revoke("ec-2026")
    with pytest.raises(KeyRevoked, match=r"key 'ec-2026' was revoked on .* \(in .*openssf/model\.sig\)"):
        load_verified(folder, keys.keyring())
