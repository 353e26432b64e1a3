"""The decision log: one JSON line per policy decision, written by a background thread.

Predictions never wait for the disk: ``record()`` puts the decision on a bounded queue
(``queue_size`` entries) and returns; the writer wakes up at most every 20 ms and writes
what has accumulated in one batch. When the writer cannot keep up and the queue is full, the
record is dropped, counted (``dropped``, exported as ``modelward_policy_decision_log_dropped_total``)
and a warning is logged, so a loss is never silent. Files rotate at ``max_bytes``
(``decisions.jsonl`` → ``decisions.jsonl.1`` …, keeping ``backups`` old files).
"""

from __future__ import annotations

import copy
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from modelward.policy.decision import Decision

logger = logging.getLogger(__name__)
MASK = "***"
BATCH_PAUSE = 0.02


@dataclass(frozen=True)
class DecisionRecord:
    """A decision with the facts of the prediction it was about."""

    decision: Decision
    model: str
    version: str
    stage: str
    request_id: str | None
    time: float  # seconds since the epoch (cheap to take per decision; formatted by the writer)
    input: Mapping[str, Any] | None = None

    def document(self) -> dict[str, Any]:
        """The JSON line's content."""
        d = self.decision
        doc: dict[str, Any] = {
            "decision_id": d.decision_id, "time": datetime.fromtimestamp(self.time, UTC).isoformat(),
            "model": self.model, "version": self.version, "package": d.policy, "policy_digest": d.policy_digest,
            "stage": self.stage, "result": d.outcome, "allow": d.allow, "messages": list(d.messages),
            "duration_us": round(d.duration * 1e6, 1), "request_id": self.request_id,
        }
        if d.error is not None:
            doc["error"] = d.error
        if self.input is not None:
            doc["input"] = self.input
        return doc


def masked(document: Mapping[str, Any], paths: Sequence[str]) -> dict[str, Any]:
    """A copy of ``document`` where each dotted path (``model_input.age``) that exists is replaced."""
    result = copy.deepcopy(dict(document))
    for path in paths:
        *parents, last = path.split(".")
        node: Any = result
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and last in node:
            node[last] = MASK
    return result


class RotatingFile:
    """A JSON lines file that is rotated by size."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path, self.max_bytes, self.backups = path, max_bytes, backups
        self._file: IO[bytes] | None = None
        self._size = 0

    def _open(self) -> IO[bytes]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("ab")
        self._size = os.fstat(self._file.fileno()).st_size
        return self._file

    def write(self, line: bytes) -> None:
        """Append one line (opening the file on first use), rotating it past ``max_bytes``."""
        file = self._file or self._open()
        if self._size + len(line) > self.max_bytes and self._size > 0:
            self.rotate()
            file = self._file or self._open()
        file.write(line)
        self._size += len(line)

    def rotate(self) -> None:
        """``f`` → ``f.1`` → ``f.2`` …; the oldest beyond ``backups`` is removed."""
        self.close()
        for index in range(self.backups, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            newer = self.path.with_name(f"{self.path.name}.{index - 1}") if index > 1 else self.path
            if newer.exists():
                if index == self.backups:
                    older.unlink(missing_ok=True)
                newer.replace(older)
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
        self._open()

    def flush(self) -> None:
        """Hand what was written to the operating system."""
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        """Close the file (it reopens on the next write)."""
        if self._file is not None:
            self._file.close()
            self._file = None




class DecisionLog:
    """Writes decision records to a rotating JSON lines file from a background thread."""

    def __init__(self, path: Path, *, max_bytes: int = 10 * 1024 * 1024, backups: int = 5,
                 queue_size: int = 10_000) -> None:
        self.path = path
        self._file = RotatingFile(path, max_bytes, backups)
        # a deque (appends are atomic under the GIL) bounded by ``queue_size``: cheaper than a Queue
        self._pending: deque[DecisionRecord] = deque()
        self._size = queue_size
        self._closing = threading.Event()
        self._counts = {"written": 0, "dropped": 0, "failed": 0}
        self._lock = threading.Lock()
        self.error: str | None = None  # why the last batch could not be written, until one is
        self._thread = threading.Thread(target=self._run, name=f"decision-log:{path.name}", daemon=True)
        self._thread.start()

    @property
    def written(self) -> int:
        """Records written so far."""
        return self._counts["written"]

    @property
    def dropped(self) -> int:
        """Records dropped because the queue was full (or the log was closed)."""
        return self._counts["dropped"]

    @property
    def failed(self) -> int:
        """Records lost because the file could not be written."""
        return self._counts["failed"]

    def record(self, item: DecisionRecord) -> None:
        """Queue a record without blocking; count and warn when it has to be dropped."""
        if len(self._pending) < self._size and not self._closing.is_set():
            self._pending.append(item)
            return
        self._count("dropped")
        if self.dropped == 1 or self.dropped % 1000 == 0:
            logger.warning("decision log %s cannot keep up: %d records dropped so far", self.path, self.dropped)

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    def _run(self) -> None:
        # wake up at most ~50 times a second (predictions keep the GIL), or at once when closing
        while True:
            closing = self._closing.wait(BATCH_PAUSE)
            self._drain()
            if closing:
                return

    def _drain(self) -> None:
        while self._pending:
            batch: list[DecisionRecord] = []
            while self._pending and len(batch) < 4096:
                batch.append(self._pending.popleft())
            self._write(batch)

    def _write(self, batch: list[DecisionRecord]) -> None:
        try:
            for item in batch:
                self._file.write(orjson.dumps(item.document(), default=str) + b"\n")
            self._file.flush()
            self._count("written", len(batch))
        except Exception as exc:
            self._count("failed", len(batch))
            self._file.close()  # reopened (and so retried) by the next batch
            error = f"{type(exc).__name__}: {exc}"
            if error != self.error:  # one line per new reason, not a traceback per batch
                logger.error("decision log %s: %d records could not be written: %s", self.path, len(batch), error)
            self.error = error
            return
        if self.error is not None:
            logger.warning("decision log %s is written again", self.path)
            self.error = None

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the writer and close the file."""
        if not self._thread.is_alive():
            return
        self._closing.set()
        self._thread.join(timeout)
        self._file.close()


def now() -> float:
    """The current time, in seconds since the epoch (UTC when formatted)."""
    return time.time()
