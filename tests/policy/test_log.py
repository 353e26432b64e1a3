"""The decision log: rotation, and drops that are counted when the writer cannot keep up."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from modelward.policy import Decision, DecisionLog
from modelward.policy.log import DecisionRecord, masked, now


def record(n: int = 0) -> DecisionRecord:
    decision = Decision(True, (), "p", "sha256:x", decision_id=f"id-{n}")
    return DecisionRecord(decision, "m", "1", "input", None, now())


def test_files_rotate_and_keep_the_configured_backups(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    log = DecisionLog(path, max_bytes=1024, backups=2)
    for n in range(60):
        log.record(record(n))
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["d.jsonl", "d.jsonl.1", "d.jsonl.2"]
    assert all(p.stat().st_size <= 1024 for p in tmp_path.iterdir())
    newest = [json.loads(line)["decision_id"] for line in path.read_text().splitlines()]
    assert newest[-1] == "id-59" and log.written == 60 and log.dropped == 0


def test_a_writer_that_cannot_keep_up_drops_and_counts(tmp_path: Path) -> None:
    fifo = tmp_path / "stuck.jsonl"
    os.mkfifo(fifo)  # opening it for writing blocks until someone reads: the writer is stuck
    log = DecisionLog(fifo, queue_size=5)
    for n in range(50):
        log.record(record(n))
    assert log.dropped >= 50 - 5 - 1
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    log.close()
    reader.join(5)
    assert log.written + log.dropped == 50
    assert len(received[0].splitlines()) == log.written


def test_masking_leaves_the_original_alone() -> None:
    document = {"model_input": {"age": 62, "smoker": True}}
    assert masked(document, ["model_input.age"]) == {"model_input": {"age": "***", "smoker": True}}
    assert document["model_input"]["age"] == 62
