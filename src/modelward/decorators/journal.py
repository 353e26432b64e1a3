"""An append-only journal of JSON lines in numbered segment files, with a committed read offset.

``journal-000001.jsonl``, ``journal-000002.jsonl``... hold one record per line; ``offset.json``
holds the position ``(segment, byte)`` up to which a consumer has durably shipped. A record is
appended (and, by the fsync policy, synced) before the caller acknowledges it; the consumer reads
complete lines from the committed position, ships them, then commits. A crash between shipping and
committing ships some records again: delivery is at least once, and every record carries an ``id``.

A process that died in the middle of a write leaves a last line without its newline; opening the
journal cuts it off (that record was never acknowledged). One process at a time may hold a journal
directory (an exclusive ``flock`` on ``journal.lock``, released by the kernel when the process dies).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from modelward.errors import ConfigurationError, JournalFull

FsyncPolicy = Literal["always", "interval", "never"]
_PREFIX, _SUFFIX = "journal-", ".jsonl"


@dataclass(frozen=True, order=True)
class Position:
    """A place in the journal: segment number and byte offset within it."""

    segment: int
    offset: int


def segment_name(number: int) -> str:
    return f"{_PREFIX}{number:06d}{_SUFFIX}"


class Journal:
    """The journal of one directory; ``append`` from any thread, ``read``/``commit`` from one consumer."""

    def __init__(self, directory: Path, *, fsync: FsyncPolicy = "always", fsync_interval: float = 1.0,
                 segment_bytes: int = 16 << 20, max_bytes: int = 256 << 20) -> None:
        self.directory = directory
        self.fsync, self.fsync_interval = fsync, fsync_interval
        self.segment_bytes, self.max_bytes = segment_bytes, max_bytes
        self._lock = threading.Lock()
        self.space = threading.Condition(self._lock)  # notified when the consumer commits
        self._sync_lock = threading.Lock()  # group commit: one fsync covers every record written before it
        self._written = self._synced = 0  # records appended / known to be on disk (fsync: always)
        self._queue: list[bytes] = []  # appended, not yet written (fsync: always; written by ``sync``)
        self.group_fsyncs = 0  # fsyncs made by ``sync`` (each covers every record written before it)
        self._lockfile = self._hold(directory)
        try:
            self.committed = self._read_offset()
            self._segments = self._existing()
            self._repair_tail()
        except BaseException:
            self._lockfile.close()
            raise
        self._file: IO[bytes] | None = None  # unbuffered: one write(2) per record, nothing held back
        self._file_bytes = 0  # size of the open segment (tracked: no lseek per record)
        self._last_sync = time.monotonic()
        self.pending_bytes = self._count_pending()

    # --- opening ---------------------------------------------------------------------------

    @staticmethod
    def _hold(directory: Path) -> IO[bytes]:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            handle = (directory / "journal.lock").open("ab")
        except OSError as exc:
            raise ConfigurationError(f"payload journal {directory}: cannot be created: {exc}") from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise ConfigurationError(f"payload journal {directory}: is used by another process (one journal "
                                     "directory per process; with several workers give each its own)") from None
        return handle

    def _read_offset(self) -> Position:
        try:
            document = json.loads((self.directory / "offset.json").read_text(encoding="utf-8"))
            return Position(int(document["segment"]), int(document["offset"]))
        except FileNotFoundError:
            return Position(1, 0)
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError(f"payload journal {self.directory}/offset.json: unreadable ({exc}); "
                                     "fix or remove it (removing ships the whole journal again)") from None

    def _existing(self) -> list[int]:
        numbers = sorted(int(p.name[len(_PREFIX):-len(_SUFFIX)]) for p in self.directory.glob(f"{_PREFIX}*{_SUFFIX}")
                         if p.name[len(_PREFIX):-len(_SUFFIX)].isdigit())
        return [n for n in numbers if n >= self.committed.segment] or [max(self.committed.segment, 1)]

    def _repair_tail(self) -> None:
        """Cut a torn last line (a write the process died in; never acknowledged)."""
        path = self.directory / segment_name(self._segments[-1])
        if not path.exists():
            return
        data = path.read_bytes()
        keep = data.rfind(b"\n") + 1
        if keep != len(data):
            with path.open("r+b") as handle:
                handle.truncate(keep)
                os.fsync(handle.fileno())

    def _size(self, number: int) -> int:
        try:
            return (self.directory / segment_name(number)).stat().st_size
        except FileNotFoundError:
            return 0

    def _count_pending(self) -> int:
        total = sum(self._size(n) for n in self._segments)
        return total - (self.committed.offset if self._segments[0] == self.committed.segment else 0)

    # --- writing ---------------------------------------------------------------------------

    def append(self, line: bytes, *, block: bool, timeout: float, sync: bool = True) -> int:
        """Append one record (without its newline); refuse or wait while the journal is full.

        With ``fsync: always`` the record is queued in memory and ``sync`` writes and fsyncs every
        queued record at once (group commit): this returns once that is done, or at once with
        ``sync=False``, leaving the wait to the caller (``sync(number)`` with the number this
        returns). Writing at sync time, never during an fsync, matters: a write into the page an
        fsync is flushing waits for the disk. With ``interval`` and ``never`` the record is written
        to the file (the OS) before this returns.
        """
        record = line + b"\n"
        with self._lock:
            if self.pending_bytes + len(record) > self.max_bytes and (not block or not self.space.wait_for(
                    lambda: self.pending_bytes + len(record) <= self.max_bytes, timeout)):
                raise JournalFull(f"payload journal {self.directory} is full ({self.pending_bytes} bytes not yet "
                                  f"shipped, limit {self.max_bytes}); the sink is down or too slow")
            self.pending_bytes += len(record)
            self._written += 1
            mine = self._written
            if self.fsync == "always":
                self._queue.append(record)
            else:
                self._write(record)
        if self.fsync == "always" and sync:
            self.sync(mine)
        return mine

    def sync(self, mine: int) -> None:
        """Return once record ``mine`` is written and on disk (``fsync: always``).

        One caller at a time writes every queued record and fsyncs once; concurrent callers whose
        records that covered return without an fsync of their own.
        """
        if self._synced >= mine:
            return
        with self._sync_lock:
            if self._synced >= mine:
                return  # another caller's fsync covered this record
            with self._lock:
                queued, self._queue = self._queue, []
                covered = self._written
                handle = self._write(b"".join(queued)) if queued else self._file
            if handle is not None:
                os.fsync(handle.fileno())
                self.group_fsyncs += 1
            self._synced = covered

    def sync_due(self) -> None:
        """With ``fsync: interval``: fsync the open segment when ``fsync_interval`` has passed since
        the last one. Called by the consumer's thread, so no prediction waits for the disk."""
        if self.fsync != "interval" or time.monotonic() - self._last_sync < self.fsync_interval:
            return
        with self._lock:
            handle, pending = self._file, self._written != self._synced
            covered = self._written
        if handle is not None and pending:
            try:
                os.fsync(handle.fileno())
            except ValueError:
                pass  # closed by a segment roll meanwhile, which fsynced it
            except OSError as exc:
                if exc.errno != errno.EBADF:
                    raise
        self._synced = covered
        self._last_sync = time.monotonic()

    def _write(self, record: bytes) -> IO[bytes]:
        """Write whole records to the open segment, rolling it first when they would not fit (a
        segment's size is a soft limit: records never span two segments); under ``_lock``."""
        handle = self._writable(len(record))
        written = 0
        while written < len(record):  # a regular file takes it whole; a short write continues
            written += handle.write(record[written:]) or 0
        self._file_bytes += len(record)
        return handle

    def _writable(self, size: int) -> IO[bytes]:
        if self._file is not None and self._file_bytes + size > self.segment_bytes and self._file_bytes > 0:
            self._close_file()
            self._segments.append(self._segments[-1] + 1)
        if self._file is None:
            self._file = (self.directory / segment_name(self._segments[-1])).open("ab", buffering=0)
            self._file_bytes = self._size(self._segments[-1])
            if self.fsync != "never":
                _sync_directory(self.directory)
        return self._file

    def _close_file(self) -> None:
        if self._file is not None:
            if self.fsync != "never":
                os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

    # --- reading and committing (one consumer) -------------------------------------------

    def read(self, start: Position, limit: int) -> tuple[list[bytes], Position]:
        """Up to ``limit`` complete lines from ``start``, and the position after them."""
        with self._lock:
            segments = list(self._segments)
        position = start
        lines: list[bytes] = []
        for number in (n for n in segments if n >= start.segment):
            offset = position.offset if number == position.segment else 0
            path = self.directory / segment_name(number)
            if not path.exists():  # nothing appended to it yet
                position = Position(number, offset)
                break
            with path.open("rb") as handle:
                handle.seek(offset)
                while len(lines) < limit:
                    line = handle.readline()
                    if not line.endswith(b"\n"):
                        break
                    lines.append(line[:-1])
                    offset += len(line)
            position = Position(number, offset)
            if len(lines) >= limit or number == segments[-1] or offset < self._size(number):
                break
            position = Position(number + 1, 0)
        return lines, position

    def commit(self, position: Position) -> None:
        """Record that everything before ``position`` has been shipped; drop fully shipped segments."""
        temporary = self.directory / "offset.json.tmp"
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump({"segment": position.segment, "offset": position.offset}, handle)
            handle.flush()
            if self.fsync != "never":
                os.fsync(handle.fileno())
        temporary.replace(self.directory / "offset.json")
        with self._lock:
            self.committed = position
            for number in [n for n in self._segments if n < position.segment]:
                (self.directory / segment_name(number)).unlink(missing_ok=True)
            self._segments = [n for n in self._segments if n >= position.segment] or [position.segment]
            self.pending_bytes = self._count_pending() + sum(map(len, self._queue))
            self.space.notify_all()

    def close(self) -> None:
        if self._queue:  # appended but never synced (no caller waited): write them, they may be shipped
            self.sync(self._written)
        with self._lock:
            self._close_file()
        self._lockfile.close()


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
