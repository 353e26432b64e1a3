"""Per-model inference statistics since the process started (Triton's statistics extension).

Codecs record each request they hand to the data plane: its model and version, how many rows it
carried, how long it took and whether it succeeded. Counters are kept under one lock; ``snapshot``
returns plain dicts in the extension's shape (counts, and durations in nanoseconds).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Duration:
    """A count and a cumulative duration."""

    count: int = 0
    ns: int = 0

    def add(self, ns: int, count: int = 1) -> None:
        self.count += count
        self.ns += ns

    def as_dict(self) -> dict[str, int]:
        return {"count": self.count, "ns": self.ns}


@dataclass
class ModelCounters:
    """What one model version has done."""

    last_inference: int = 0  # milliseconds since the epoch
    inference_count: int = 0  # rows predicted
    execution_count: int = 0  # requests executed
    success: Duration = field(default_factory=Duration)
    fail: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)


class InferenceStatistics:
    """Thread-safe counters per (model, version)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[tuple[str, str], ModelCounters] = {}

    def record(self, model: str, version: str, *, rows: int, ns: int, ok: bool) -> None:
        """One request answered (``ok``) or failed after its model was found."""
        with self._lock:
            counters = self._models.setdefault((model, version), ModelCounters())
            counters.last_inference = time.time_ns() // 1_000_000
            if ok:
                counters.inference_count += rows
                counters.execution_count += 1
                counters.success.add(ns)
                counters.compute_infer.add(ns)
            else:
                counters.fail.add(ns)

    def snapshot(self, served: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """The statistics of every ``(model, version)`` given, zero for those never called."""
        with self._lock:
            return [self._entry(name, version, self._models.get((name, version), ModelCounters()))
                    for name, version in served]

    @staticmethod
    def _entry(name: str, version: str, counters: ModelCounters) -> dict[str, Any]:
        zero = Duration().as_dict()
        return {
            "name": name,
            "version": version,
            "last_inference": counters.last_inference,
            "inference_count": counters.inference_count,
            "execution_count": counters.execution_count,
            "inference_stats": {
                "success": counters.success.as_dict(),
                "fail": counters.fail.as_dict(),
                "queue": zero,
                "compute_input": zero,
                "compute_infer": counters.compute_infer.as_dict(),
                "compute_output": zero,
                "cache_hit": zero,
                "cache_miss": zero,
            },
            "response_stats": {},
            "batch_stats": [],
            "memory_usage": [],
        }
