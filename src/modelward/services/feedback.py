"""Feedback recorded durably: one JSON line per piece of feedback, appended and synced to disk.

The data plane records feedback here before any router or model sees it, so a reward that was
acknowledged is never lost when the process dies; several server processes may append to one file
(each line is written with one ``write`` on a file opened in append mode).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from modelward.errors import FeedbackUnavailable
from modelward.services.inference import FeedbackRequest


class JournalFeedbackSink:
    """Appends feedback to a JSON-lines file and ``fsync``s it before the call returns."""

    def __init__(self, path: Path, *, sync: bool = True) -> None:
        self.path = path
        self.sync = sync
        self._lock = threading.Lock()

    def record(self, feedback: FeedbackRequest, version: str) -> None:
        line = orjson.dumps(feedback_record(feedback, version), default=str) + b"\n"
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
                try:
                    os.write(fd, line)
                    if self.sync:
                        os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise FeedbackUnavailable(f"cannot record feedback in {self.path}: {exc.strerror}") from None


def feedback_record(feedback: FeedbackRequest, version: str) -> dict[str, Any]:
    """The JSON document of one piece of feedback."""
    return {
        "time": time.time(),
        "model": feedback.model,
        "version": version,
        "protocol": feedback.protocol,
        "request_id": feedback.request_id,
        "request": feedback.request,
        "response": feedback.response,
        "reward": feedback.reward,
        "truth": feedback.truth,
        "routing": feedback.routing,
        "tags": feedback.tags,
    }


def read_feedback(path: Path) -> list[dict[str, Any]]:
    """Every record of a feedback log, oldest first (a torn last line is skipped)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_bytes().splitlines():
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    return records
