"""Read a package's members safely, from a ``.zip`` archive or a plain directory.

Opening a source checks the container's structure and refuses, with ``UnsafeArchive``, anything
that could make a later read lie: traversal or absolute names, links, duplicates, encrypted or
unknown entries, overlapping entries, bytes before or after the archive, an expansion over the
configured limit. Nothing is decompressed or deserialized here.
"""

from __future__ import annotations

import os
import stat
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol

from modelward.errors import PackageFormatError, UnsafeArchive

MAX_BOMB_RATIO = 1000
_LOCAL_HEADER = 30


def check_member_name(name: str, where: str) -> None:
    """Refuse names that could escape the package or mean two things."""
    parts = name.split("/")
    problem = None
    if not name or len(name) > 1024 or "\x00" in name:
        problem = "empty, too long or contains NUL"
    elif name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        problem = "is an absolute path"
    elif "\\" in name:
        problem = "contains a backslash"
    elif any(part in {"..", ".", ""} for part in parts):
        problem = "has a '..', '.' or empty path component (path traversal)"
    if problem:
        raise UnsafeArchive(f"{where}: entry '{name[:200]}' {problem}")


class Source(Protocol):
    """The members of a package, by relative POSIX path."""

    location: str

    def names(self) -> list[str]:
        """Every member's path."""
        ...

    def declared_size(self, name: str) -> int:
        """The size the container declares for ``name``."""
        ...

    def open(self, name: str) -> BinaryIO:
        """A binary stream of ``name``'s bytes."""
        ...

    def close(self) -> None:
        """Release the container."""
        ...


class DirectorySource:
    """A package as a plain directory: regular files only, no links of any kind."""

    def __init__(self, root: Path, max_expansion_bytes: int) -> None:
        self.root = root
        self.location = str(root)
        self._sizes: dict[str, int] = {}
        for name, info in self._walk(root, ""):
            self._sizes[name] = info.st_size
        total = sum(self._sizes.values())
        if total > max_expansion_bytes:
            raise UnsafeArchive(f"{root}: holds {total} bytes, over the limit of {max_expansion_bytes}")

    def _walk(self, folder: Path, prefix: str) -> Iterator[tuple[str, os.stat_result]]:
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                name = f"{prefix}{entry.name}"
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISLNK(info.st_mode):
                    raise UnsafeArchive(f"{self.root}: '{name}' is a symbolic link")
                if stat.S_ISDIR(info.st_mode):
                    yield from self._walk(Path(entry.path), f"{name}/")
                elif not stat.S_ISREG(info.st_mode):
                    raise UnsafeArchive(f"{self.root}: '{name}' is not a regular file")
                elif info.st_nlink > 1:
                    raise UnsafeArchive(f"{self.root}: '{name}' is a hard link ({info.st_nlink} links)")
                else:
                    yield name, info

    def names(self) -> list[str]:
        """Every regular file, relative to the root."""
        return list(self._sizes)

    def declared_size(self, name: str) -> int:
        """The size ``stat`` reported when the source was opened."""
        return self._sizes[name]

    def open(self, name: str) -> BinaryIO:
        """Open without following a link (a file swapped for a link after opening is refused)."""
        check_member_name(name, self.location)
        try:
            fd = os.open(self.root / name, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            raise UnsafeArchive(f"{self.root}: cannot open '{name}': {exc.strerror}") from None
        return os.fdopen(fd, "rb", buffering=0)

    def close(self) -> None:
        """Nothing to release."""


class ZipSource:
    """A package as a ``.zip`` file, checked entry by entry before anything is read."""

    def __init__(self, path: Path, max_expansion_bytes: int) -> None:
        self.location = str(path)
        self._handle = path.open("rb")
        try:
            self._check_container(path)
            self._zip = zipfile.ZipFile(self._handle)
            self._infos = self._check_entries(max_expansion_bytes)
        except zipfile.BadZipFile as exc:
            self._handle.close()
            raise UnsafeArchive(f"{path}: not a valid zip archive: {exc}") from None
        except BaseException:
            self._handle.close()
            raise

    def _check_container(self, path: Path) -> None:
        size = os.fstat(self._handle.fileno()).st_size
        if self._handle.read(4) != b"PK\x03\x04":
            raise UnsafeArchive(f"{path}: does not start with a zip entry (prepended bytes or not a zip)")
        endrec = zipfile._EndRecData(self._handle)  # type: ignore[attr-defined]
        if endrec is None:
            raise UnsafeArchive(f"{path}: no zip end-of-archive record")
        end = endrec[zipfile._ECD_LOCATION] + zipfile.sizeEndCentDir + endrec[zipfile._ECD_COMMENT_SIZE]  # type: ignore[attr-defined]
        if end != size:
            raise UnsafeArchive(f"{path}: {size - end} bytes are appended after the end of the archive")
        self._handle.seek(0)

    def _check_entries(self, limit: int) -> dict[str, zipfile.ZipInfo]:
        infos: dict[str, zipfile.ZipInfo] = {}
        total = 0
        previous_end = 0
        for info in sorted(self._zip.infolist(), key=lambda i: i.header_offset):
            self._check_entry(info, infos)
            if info.header_offset < previous_end:
                raise UnsafeArchive(f"{self.location}: entry '{info.filename}' overlaps the previous entry")
            previous_end = info.header_offset + _LOCAL_HEADER + len(info.orig_filename.encode()) \
                + info.compress_size
            if info.is_dir():
                continue
            total += info.file_size
            if total > limit:
                raise UnsafeArchive(f"{self.location}: expands to more than the limit of {limit} bytes "
                                    f"(at entry '{info.filename}')")
            infos[info.filename] = info
        return infos

    def _check_entry(self, info: zipfile.ZipInfo, seen: dict[str, zipfile.ZipInfo]) -> None:
        where = self.location
        check_member_name(info.filename.rstrip("/") if info.is_dir() else info.filename, where)
        if info.filename in seen or info.filename.rstrip("/") in seen:
            raise UnsafeArchive(f"{where}: entry '{info.filename}' appears more than once")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafeArchive(f"{where}: entry '{info.filename}' is a symbolic link")
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise UnsafeArchive(f"{where}: entry '{info.filename}' is not a regular file")
        if info.flag_bits & 0x1:
            raise UnsafeArchive(f"{where}: entry '{info.filename}' is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise UnsafeArchive(f"{where}: entry '{info.filename}' uses compression method "
                                f"{info.compress_type} (only stored and deflated are read)")
        if info.file_size > 1024 * 1024 and info.file_size > MAX_BOMB_RATIO * max(info.compress_size, 1):
            raise UnsafeArchive(f"{where}: entry '{info.filename}' expands {info.file_size} bytes from "
                                f"{info.compress_size} (over {MAX_BOMB_RATIO}x: a zip bomb)")

    def names(self) -> list[str]:
        """Every file entry (directory entries are skipped)."""
        return list(self._infos)

    def declared_size(self, name: str) -> int:
        """The uncompressed size the central directory declares."""
        return self._infos[name].file_size

    def open(self, name: str) -> BinaryIO:
        """A stream of the entry's bytes (zipfile checks its CRC at the end)."""
        try:
            return self._zip.open(self._infos[name])  # type: ignore[return-value]
        except zipfile.BadZipFile as exc:
            raise UnsafeArchive(f"{self.location}: entry '{name}': {exc}") from None

    def close(self) -> None:
        """Close the archive."""
        self._zip.close()
        self._handle.close()


def open_source(path: Path, max_expansion_bytes: int) -> DirectorySource | ZipSource:
    """Open a package directory or ``.zip`` file, checking its structure."""
    try:
        info = path.lstat()
    except OSError:
        raise PackageFormatError(f"{path}: no such package (file or directory)") from None
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeArchive(f"{path}: the package itself is a symbolic link")
    if stat.S_ISDIR(info.st_mode):
        return DirectorySource(path, max_expansion_bytes)
    return ZipSource(path, max_expansion_bytes)


@contextmanager
def reading(source: Source, name: str) -> Iterator[BinaryIO]:
    """Open a member, turning container read errors into ``UnsafeArchive`` naming the member."""
    stream = source.open(name)
    try:
        yield stream
    except zlib.error as exc:
        raise UnsafeArchive(f"{source.location}: entry '{name}' is corrupt: its compressed data does not "
                            f"inflate ({exc})") from None
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise UnsafeArchive(f"{source.location}: entry '{name}': {exc} (declared size or CRC lies)") from None
    finally:
        stream.close()
