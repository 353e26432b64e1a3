"""Corrupt compressed data inside a signed package: one ``UnsafeArchive`` line, never a traceback.

The bytes are changed inside a deflated entry's data (the headers, sizes and signature stay as
signed), so the damage shows only while the entry is inflated: a zlib error or a bad CRC.
"""

from __future__ import annotations

import struct
import subprocess
import zipfile
from pathlib import Path

import pytest

from modelward.artifacts import load_verified
from modelward.errors import UnsafeArchive
from tests.artifacts.conftest import Keys
from tests.conftest import MODELWARD, child_env


def _data_span(package: Path, name: str) -> tuple[int, int]:
    """Where ``name``'s compressed bytes are in the file: (offset, length)."""
    with zipfile.ZipFile(package) as archive:
        info = archive.getinfo(name)
    assert info.compress_type == zipfile.ZIP_DEFLATED
    raw = package.read_bytes()
    header = info.header_offset
    name_length, extra_length = struct.unpack_from("<HH", raw, header + 26)
    return header + 30 + name_length + extra_length, info.compress_size


def _corrupt(package: Path, name: str, how: str) -> None:
    data = bytearray(package.read_bytes())
    start, length = _data_span(package, name)
    if how == "invalid-block":  # BFINAL=1, BTYPE=11 (reserved): zlib refuses the first block
        data[start:start + 8] = b"\xff" * 8
    else:  # a literal in the middle changes: the stream inflates, to other bytes (CRC mismatch)
        data[start + length // 2] ^= 0x10
    package.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["invalid-block", "flipped-bit"])
def test_corrupt_deflated_entry_is_one_unsafe_archive_line(package: Path, keys: Keys, how: str) -> None:
    _corrupt(package, "model.joblib", how)
    with pytest.raises(UnsafeArchive) as caught, load_verified(package, keys.keyring()):
        pass
    message = caught.value.message
    assert str(package) in message and "'model.joblib'" in message, message
    assert "\n" not in message


def test_verify_command_reports_a_corrupt_entry_in_one_line(package: Path, keys: Keys) -> None:
    _corrupt(package, "model.joblib", "invalid-block")
    result = subprocess.run([MODELWARD, "verify", str(package), "--keyring", str(keys.keyring_dir)],
                            capture_output=True, text=True, env=child_env(), timeout=60, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "'model.joblib' is corrupt" in line, line
