"""Digests with a self-describing algorithm name, computed by streaming (never a whole file in memory)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel, ConfigDict

from modelward.errors import PackageFormatError

CHUNK_SIZE = 1024 * 1024
_DIGEST = re.compile(r"^(sha256):([0-9a-f]{64})$")

Progress = Callable[[int], None]


class Digest(BaseModel):
    """A digest as ``<algorithm>:<lowercase hex>``; only ``sha256`` is produced and accepted."""

    model_config = ConfigDict(frozen=True)

    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Read ``sha256:<64 hex>``; anything else is a ``PackageFormatError``."""
        match = _DIGEST.match(text)
        if match is None:
            raise PackageFormatError(f"'{text[:80]}' is not a digest of the form 'sha256:<64 lowercase hex>'")
        return cls(algorithm=match.group(1), hex=match.group(2))


def sha256_bytes(data: bytes) -> str:
    """The ``sha256:<hex>`` digest of ``data``."""
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def hash_stream(stream: BinaryIO, *, limit: int | None = None, progress: Progress | None = None,
                sink: BinaryIO | None = None, overread: bool = True) -> tuple[str, int]:
    """Hash ``stream`` chunk by chunk; return (``sha256:<hex>``, bytes read).

    With ``limit``, stop after ``limit + 1`` bytes (the caller sees that the stream is longer than
    declared), or after exactly ``limit`` bytes when ``overread`` is False.
    With ``sink``, every chunk is also written there (extract while hashing).
    """
    hasher = hashlib.sha256()
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    total = 0
    stop = None if limit is None else limit + (1 if overread else 0)
    while stop is None or total < stop:
        want = CHUNK_SIZE if stop is None else min(CHUNK_SIZE, stop - total)
        count = stream.readinto(view[:want])  # type: ignore[attr-defined]
        if not count:
            break
        hasher.update(view[:count])
        if sink is not None:
            sink.write(view[:count])
        total += count
        if progress is not None:
            progress(count)
    return f"sha256:{hasher.hexdigest()}", total


def hash_file(path: Path, *, progress: Progress | None = None) -> tuple[str, int]:
    """Hash a local file by streaming; return (``sha256:<hex>``, size)."""
    with path.open("rb", buffering=0) as handle:
        return hash_stream(handle, progress=progress)
