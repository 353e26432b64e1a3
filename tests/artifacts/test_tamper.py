"""The tamper matrix: every way of changing a real signed package is refused with its exact error.

Each tampered package carries a pickle that would create a marker file if it ever ran; every test
checks that the marker does not exist, so the refusal happened before any byte was deserialized.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modelward.artifacts import (
    Keyring,
    TrustedKey,
    build_package,
    generate_key,
    load_signer,
    load_verified,
    sign_package,
)
from modelward.errors import (
    KeyExpired,
    KeyRevoked,
    ManifestMismatch,
    SignatureInvalid,
    UnknownKey,
    UnsafeArchive,
)
from tests.artifacts.conftest import TRAINING, Keys, evil_pickle
from tests.artifacts.tamper import entries, patch_declared_size, write_zip


@pytest.fixture
def marker(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "PWNED"
    yield path
    assert not path.exists(), "a tampered pickle ran"


def _refused(package: Path, keys: Keys, error: type[Exception], match: str, **kwargs: object) -> None:
    with pytest.raises(error, match=match) as caught, \
            load_verified(package, keys.keyring(), **kwargs) as verified:  # type: ignore[arg-type]
        for entry in verified.manifest.files:
            if entry.format != "data":
                verified.load(entry.path)
    assert type(caught.value) is error


def _rewrite(package: Path, change: Callable[[dict[str, bytes]], dict[str, bytes] | list[tuple[str, bytes]]],
             **kwargs: object) -> Path:
    return write_zip(package, change(entries(package)), **kwargs)  # type: ignore[arg-type]


def test_one_byte_flipped_in_the_model_file(package: Path, keys: Keys, marker: Path) -> None:
    def flip(members: dict[str, bytes]) -> dict[str, bytes]:
        data = bytearray(members["model.joblib"])
        data[len(data) // 2] ^= 0x01
        return {**members, "model.joblib": bytes(data)}

    _refused(_rewrite(package, flip), keys, ManifestMismatch, r"'model.joblib' digest sha256:\w+ differs")


def test_model_file_replaced_by_a_payload(package: Path, keys: Keys, marker: Path) -> None:
    _refused(_rewrite(package, lambda m: {**m, "model.joblib": evil_pickle(marker)}), keys, ManifestMismatch,
             "'model.joblib' is .* bytes, the manifest says")


def test_manifest_edited(package: Path, keys: Keys, marker: Path) -> None:
    def edit(members: dict[str, bytes]) -> dict[str, bytes]:
        return {**members, "manifest.json": members["manifest.json"].replace(b'"1.0.0"', b'"1.0.1"')}

    _refused(_rewrite(package, edit), keys, SignatureInvalid, "manifest.json was changed after signing")


def test_signature_truncated(package: Path, keys: Keys, marker: Path) -> None:
    _refused(_rewrite(package, lambda m: {**m, "signature.json": m["signature.json"][:-20]}), keys,
             SignatureInvalid, "signature.json: not a JSON document")


def test_signature_value_altered(package: Path, keys: Keys, marker: Path) -> None:
    def alter(members: dict[str, bytes]) -> dict[str, bytes]:
        document = json.loads(members["signature.json"])
        document["value"] = document["value"][:10] + ("A" if document["value"][10] != "A" else "B") + \
            document["value"][11:]
        return {**members, "signature.json": json.dumps(document, sort_keys=True, separators=(",", ":")).encode()}

    _refused(_rewrite(package, alter), keys, SignatureInvalid, "does not verify")


def test_bytes_appended_after_the_signature_document(package: Path, keys: Keys, marker: Path) -> None:
    _refused(_rewrite(package, lambda m: {**m, "signature.json": m["signature.json"] + b" "}), keys,
             SignatureInvalid, "signature.json")


def test_bytes_appended_to_the_archive(package: Path, keys: Keys, marker: Path) -> None:
    with package.open("ab") as handle:
        handle.write(evil_pickle(marker))
    _refused(package, keys, UnsafeArchive, "bytes are appended after the end of the archive")


def test_signed_by_an_untrusted_key(tmp_path: Path, model_files: Path, keys: Keys, marker: Path) -> None:
    stranger = generate_key(tmp_path / "stranger", key_id="stranger")
    output = build_package(model_files, tmp_path / "s.zip", qualified_name="toy_model", version="1.0.0",
                           signer=load_signer(stranger.private_path))
    assert output.model.version == "1.0.0"
    _refused(tmp_path / "s.zip", keys, UnknownKey, "key 'stranger' is not in the keyring")


def test_same_key_id_different_key_is_invalid(tmp_path: Path, model_files: Path, keys: Keys,
                                              marker: Path) -> None:
    impostor = generate_key(tmp_path / "impostor", key_id="team-2026")
    build_package(model_files, tmp_path / "i.zip", qualified_name="toy_model", version="1.0.0",
                  signer=load_signer(impostor.private_path))
    _refused(tmp_path / "i.zip", keys, SignatureInvalid, "signature by key 'team-2026' does not verify")


def test_revoked_key(package: Path, keys: Keys, marker: Path) -> None:
    keys.keyring().revoke("team-2026")
    _refused(package, keys, KeyRevoked, "key 'team-2026' was revoked on")


def test_expired_key_at_signing_time(package: Path, keys: Keys, marker: Path) -> None:
    entry = keys.keyring().get("team-2026")
    past = datetime.now(UTC) - timedelta(days=1)
    (keys.keyring_dir / "team-2026.json").write_text(entry.model_copy(update={"not_after": past}).model_dump_json())
    sign_package(package, keys.signer)
    _refused(package, keys, KeyExpired, "key 'team-2026' expired on .* but signed at")


def test_signed_before_the_key_was_valid(package: Path, keys: Keys, marker: Path) -> None:
    sign_package(package, keys.signer, signed_at=datetime.now(UTC) - timedelta(days=30))
    _refused(package, keys, KeyExpired, "is valid from")


def test_extra_file(package: Path, keys: Keys, marker: Path) -> None:
    _refused(_rewrite(package, lambda m: {**m, "evil.pkl": evil_pickle(marker)}), keys, ManifestMismatch,
             "file.s. not in the manifest: evil.pkl")


def test_missing_file(package: Path, keys: Keys, marker: Path) -> None:
    _refused(_rewrite(package, lambda m: {k: v for k, v in m.items() if k != "metrics.json"}), keys,
             ManifestMismatch, "in the manifest are missing: metrics.json")


@pytest.mark.parametrize("name", ["../evil.pkl", "reports/../../evil.pkl", "/tmp/evil.pkl", "C:/evil.pkl",
                                  "reports\\..\\evil.pkl"])
def test_zip_slip_entry(package: Path, keys: Keys, marker: Path, name: str) -> None:
    _refused(_rewrite(package, lambda m: {**m, name: evil_pickle(marker)}), keys, UnsafeArchive,
             r"entry .* (\(path traversal\)|is an absolute path|contains a backslash)")


def test_symlink_entry(package: Path, keys: Keys, marker: Path) -> None:
    _refused(_rewrite(package, lambda m: {**m, "metrics.json": b"/etc/passwd"}, symlinks=("metrics.json",)),
             keys, UnsafeArchive, "entry 'metrics.json' is a symbolic link")


def test_duplicate_names(package: Path, keys: Keys, marker: Path) -> None:
    _refused(_rewrite(package, lambda m: [*m.items(), ("model.joblib", evil_pickle(marker))]), keys,
             UnsafeArchive, "entry 'model.joblib' appears more than once")


def test_declared_size_lies(package: Path, keys: Keys, marker: Path) -> None:
    real = entries(package)["model.joblib"]
    tampered = _rewrite(package, lambda m: {**m, "model.joblib": real + evil_pickle(marker)},
                        method=zipfile.ZIP_STORED)
    patch_declared_size(tampered, "model.joblib", len(real))
    _refused(tampered, keys, UnsafeArchive, "model.joblib")


def test_zip_bomb_by_ratio(package: Path, keys: Keys, marker: Path) -> None:
    _refused(_rewrite(package, lambda m: {**m, "reports/big.csv": bytes(64 * 1024 * 1024)}), keys,
             UnsafeArchive, "entry 'reports/big.csv' expands 67108864 bytes from .* a zip bomb")


def test_expansion_over_the_configured_limit(package: Path, keys: Keys, marker: Path) -> None:
    _refused(package, keys, UnsafeArchive, "expands to more than the limit of 1000 bytes",
             max_expansion_bytes=1000)


def test_directory_with_a_symlink(tmp_path: Path, model_files: Path, keys: Keys, marker: Path) -> None:
    output = tmp_path / "pkg"
    build_package(model_files, output, qualified_name="toy_model", version="1.0.0", training=TRAINING,
                  signer=keys.signer)
    (output / "metrics.json").unlink()
    (output / "metrics.json").symlink_to(model_files / "metrics.json")
    _refused(output, keys, UnsafeArchive, "'metrics.json' is a symbolic link")


def test_directory_with_a_hard_link(tmp_path: Path, model_files: Path, keys: Keys, marker: Path) -> None:
    output = tmp_path / "pkg"
    build_package(model_files, output, qualified_name="toy_model", version="1.0.0", signer=keys.signer)
    os.link(output / "metrics.json", tmp_path / "elsewhere.json")
    _refused(output, keys, UnsafeArchive, "'metrics.json' is a hard link")


def test_directory_with_a_file_grown_after_signing(tmp_path: Path, model_files: Path, keys: Keys,
                                                   marker: Path) -> None:
    output = tmp_path / "pkg"
    build_package(model_files, output, qualified_name="toy_model", version="1.0.0", signer=keys.signer)
    with (output / "model.joblib").open("ab") as handle:
        handle.write(b"\x00")
    _refused(output, keys, ManifestMismatch, "'model.joblib' is .* bytes, the manifest says")


def test_file_changed_after_verification_is_refused_at_load(tmp_path: Path, model_files: Path, keys: Keys,
                                                            marker: Path) -> None:
    output = tmp_path / "pkg"
    build_package(model_files, output, qualified_name="toy_model", version="1.0.0", signer=keys.signer)
    with load_verified(output, keys.keyring()) as verified:
        size = (output / "model.joblib").stat().st_size
        payload = evil_pickle(marker)
        (output / "model.joblib").write_bytes(payload + b"\x00" * (size - len(payload)))
        with pytest.raises(ManifestMismatch, match=r"'model\.joblib' digest"):
            verified.load("model.joblib")


def test_keyring_entry_algorithm_must_match(package: Path, keys: Keys, marker: Path, tmp_path: Path) -> None:
    other = generate_key(tmp_path / "ec", key_id="ec", algorithm="ecdsa-p256")
    entry = TrustedKey.model_validate({**other.trusted.model_dump(), "key_id": "team-2026"})
    ring = tmp_path / "ring.json"
    ring.write_text(json.dumps({"keys": [entry.model_dump(mode="json")]}))
    with pytest.raises(SignatureInvalid, match="key 'team-2026' is ecdsa-p256, the signature claims ed25519"):
        load_verified(package, Keyring.load(ring))


def test_key_errors_name_the_package(tmp_path: Path, model_files: Path, package: Path, keys: Keys,
                                     marker: Path) -> None:
    where = r"\(in .*model-1\.0\.0\.zip!signature\.json\)$"
    impostor = generate_key(tmp_path / "impostor", key_id="team-2026")
    sign_package(package, load_signer(impostor.private_path))
    _refused(package, keys, SignatureInvalid, "signature by key 'team-2026' does not verify " + where)
    sign_package(package, keys.signer)
    keys.keyring().revoke("team-2026")
    _refused(package, keys, KeyRevoked, "key 'team-2026' was revoked on .* " + where)
    (keys.keyring_dir / "team-2026.json").unlink()
    _refused(package, keys, UnknownKey, "key 'team-2026' is not in the keyring .* " + where)
