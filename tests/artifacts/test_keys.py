"""Keys and the keyring: rotation, revocation, expiry, HMAC, keyring files and folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelward.artifacts import Keyring, build_package, generate_key, load_signer, load_verified
from modelward.errors import ConfigurationError, KeyRevoked, SignatureInvalid, UnknownKey
from tests.artifacts.conftest import Keys


def test_rotation_new_key_signs_new_packages_old_packages_keep_loading(tmp_path: Path, model_files: Path,
                                                                       keys: Keys) -> None:
    old_package = tmp_path / "v1.zip"
    build_package(model_files, old_package, qualified_name="toy_model", version="1", signer=keys.signer)
    new = generate_key(keys.private_dir, key_id="team-2027", keyring=keys.keyring())
    new_package = tmp_path / "v2.zip"
    build_package(model_files, new_package, qualified_name="toy_model", version="2",
                  signer=load_signer(new.private_path))
    ring = keys.keyring()
    assert [k.key_id for k in ring] == ["team-2026", "team-2027"]
    with load_verified(old_package, ring) as old, load_verified(new_package, ring) as latest:
        assert (old.key_id, latest.key_id) == ("team-2026", "team-2027")
    ring.revoke("team-2026")
    with pytest.raises(KeyRevoked, match="team-2026"):
        load_verified(old_package, keys.keyring())
    with load_verified(new_package, keys.keyring()) as latest:
        assert latest.key_id == "team-2027"


def test_revocation_is_written_to_the_keyring_file(keys: Keys) -> None:
    keys.keyring().revoke("team-2026")
    document = json.loads((keys.keyring_dir / "team-2026.json").read_text())
    assert document["revoked"] is True and document["revoked_at"].endswith("Z")
    assert "private" not in (keys.keyring_dir / "team-2026.json").read_text().lower()


def test_keyring_holds_only_public_keys(keys: Keys) -> None:
    text = (keys.keyring_dir / "team-2026.json").read_text()
    assert "BEGIN PUBLIC KEY" in text and "PRIVATE" not in text
    assert oct((keys.private_dir / "team-2026.pem").stat().st_mode & 0o777) == "0o600"


def test_single_file_keyring(tmp_path: Path, model_files: Path) -> None:
    ring_file = tmp_path / "keyring.json"
    ring_file.write_text('{"keys": []}')
    generated = generate_key(tmp_path / "private", key_id="p256", algorithm="ecdsa-p256",
                             keyring=Keyring.load(ring_file))
    build_package(model_files, tmp_path / "p.zip", qualified_name="m", version="1",
                  signer=load_signer(generated.private_path))
    with load_verified(tmp_path / "p.zip", Keyring.load(ring_file)) as verified:
        assert verified.key_id == "p256"
    Keyring.load(ring_file).revoke("p256")
    assert json.loads(ring_file.read_text())["keys"][0]["revoked"] is True


def test_hmac_key_reads_its_secret_from_the_environment(tmp_path: Path, model_files: Path, keys: Keys,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    generated = generate_key(keys.private_dir, key_id="shared", algorithm="hmac-sha256", keyring=keys.keyring())
    assert generated.trusted.secret_env == "MODELWARD_HMAC_SHARED"
    assert "secret" not in (keys.keyring_dir / "shared.json").read_text().replace("secret_env", "")
    build_package(model_files, tmp_path / "h.zip", qualified_name="m", version="1",
                  signer=load_signer(generated.private_path))
    with pytest.raises(UnknownKey, match="MODELWARD_HMAC_SHARED"):
        load_verified(tmp_path / "h.zip", keys.keyring())
    monkeypatch.setenv("MODELWARD_HMAC_SHARED", "x" * 64)
    with pytest.raises(SignatureInvalid, match="'shared' does not verify"):
        load_verified(tmp_path / "h.zip", keys.keyring())
    monkeypatch.setenv("MODELWARD_HMAC_SHARED", generated.private_path.read_text().strip())
    with load_verified(tmp_path / "h.zip", keys.keyring()) as verified:
        assert verified.key_id == "shared"


def test_bad_keyrings_say_which_file_and_why(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        Keyring.load(tmp_path / "nope")
    (tmp_path / "bad.json").write_text('{"key_id": "x", "algorithm": "rsa"}')
    with pytest.raises(ConfigurationError, match=r"bad\.json"):
        Keyring.load(tmp_path / "bad.json")
    with pytest.raises(ConfigurationError, match="unknown algorithm"):
        generate_key(tmp_path, algorithm="rsa")
