"""Keys and the keyring: rotation, revocation, expiry, HMAC, keyring files and folders."""

from __future__ import annotations

import json
import re
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


def test_generate_refuses_a_bad_key_id_with_a_clear_error(tmp_path: Path, keys: Keys) -> None:
    for bad in ("../evil", "bad id", ".hidden"):
        with pytest.raises(ConfigurationError, match=rf"key id '{re.escape(bad)}': use letters, digits"):
            generate_key(keys.private_dir, key_id=bad, keyring=keys.keyring())
    assert sorted(p.name for p in keys.keyring_dir.iterdir()) == ["team-2026.json"]


def test_generate_that_cannot_write_the_private_key_adds_nothing_to_the_keyring(tmp_path: Path,
                                                                                keys: Keys) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(ConfigurationError, match=r"file: is not a directory"):
        generate_key(not_a_folder, key_id="orphan", keyring=keys.keyring())
    with pytest.raises(ConfigurationError, match="already holds a key 'team-2026'"):
        generate_key(tmp_path / "other-private", key_id="team-2026", keyring=keys.keyring())
    assert [k.key_id for k in keys.keyring()] == ["team-2026"]
    assert not (tmp_path / "other-private").exists()


def test_revoke_rewrites_the_file_the_key_came_from(tmp_path: Path, keys: Keys) -> None:
    (keys.keyring_dir / "team-2026.json").rename(keys.keyring_dir / "team.json")
    keys.keyring().revoke("team-2026")
    assert sorted(p.name for p in keys.keyring_dir.iterdir()) == ["team.json"]
    assert keys.keyring().get("team-2026").revoked
    shared = tmp_path / "shared-ring"
    shared.mkdir()
    (shared / "all.json").write_text(json.dumps({"keys": [
        keys.keyring().get("team-2026").model_dump(mode="json", exclude_none=True) | {"revoked": False},
        {"key_id": "other", "algorithm": "hmac-sha256", "secret_env": "MODELWARD_HMAC_OTHER"}]}))
    Keyring.load(shared).revoke("other")
    ring = Keyring.load(shared)
    assert sorted(p.name for p in shared.iterdir()) == ["all.json"]
    assert (ring.get("other").revoked, ring.get("team-2026").revoked) == (True, False)


def test_malformed_public_key_is_a_configuration_error_naming_the_entry_and_package(
        tmp_path: Path, package: Path) -> None:
    ring = tmp_path / "ring.json"
    ring.write_text(json.dumps({"keys": [{"key_id": "team-2026", "algorithm": "ed25519",
                                          "public_key": "garbage"}]}))
    with pytest.raises(ConfigurationError, match=r"keyring entry 'team-2026': public_key is not a PEM public "
                                                 r"key .*\(in .*model-1\.0\.0\.zip!signature\.json\)"):
        load_verified(package, Keyring.load(ring))
