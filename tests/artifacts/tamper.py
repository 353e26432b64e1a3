"""Helpers that rewrite a real package the way an attacker would."""

from __future__ import annotations

import stat
import struct
import warnings
import zipfile
from pathlib import Path


def entries(package: Path) -> dict[str, bytes]:
    """Every entry of a zip package, in order."""
    with zipfile.ZipFile(package) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def write_zip(target: Path, members: list[tuple[str, bytes]] | dict[str, bytes], *,
              symlinks: tuple[str, ...] = (), method: int = zipfile.ZIP_DEFLATED) -> Path:
    """Write members (duplicates allowed) with full control of names and modes."""
    items = list(members.items()) if isinstance(members, dict) else members
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(target, "w") as archive:
            for name, data in items:
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                kind = stat.S_IFLNK | 0o777 if name in symlinks else stat.S_IFREG | 0o644
                info.external_attr = kind << 16
                info.compress_type = method
                archive.writestr(info, data)
    return target


def patch_declared_size(package: Path, name: str, declared: int) -> None:
    """Change the uncompressed size that the local and central headers declare for ``name``."""
    data = bytearray(package.read_bytes())
    encoded = name.encode()
    for signature, size_offset, name_offset in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            if data[start + name_offset:start + name_offset + len(encoded)] == encoded:
                struct.pack_into("<I", data, start + size_offset, declared)
            start += 4
    package.write_bytes(bytes(data))
