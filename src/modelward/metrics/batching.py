"""Figures of the adaptive batch queues: batch sizes, waiting time, queue depth, refusals.

``BatchStats`` is one model's figures (it has the two methods of the batcher's observer, so the
batcher reports to it as to any observer); ``BatchCollector`` turns every model's figures into
Prometheus families at scrape time: ``modelward_batch_size`` and ``modelward_batch_wait_seconds``
(histograms), ``modelward_batch_queue_depth`` (gauge) and ``modelward_batch_rejected_total``.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

SIZE_BUCKETS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0)
WAIT_BUCKETS = (0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class Histogram:
    """Counts per bucket (upper bounds), a total and a sum; not thread-safe on its own."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, float]]:
        """``(le, count of values <= le)`` pairs, ending with ``+Inf``, as Prometheus wants them."""
        pairs, running = [], 0
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            pairs.append((bound, float(running)))
        return pairs


class BatchStats:
    """One model's batching figures, updated by its batcher, read at scrape time."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._lock = threading.Lock()
        self._sizes = Histogram(SIZE_BUCKETS)
        self._waits = Histogram(WAIT_BUCKETS)
        self.queue_depth = 0
        self.rejected = 0

    def observe_batch(self, model: str, size: int, wait_seconds: float) -> None:
        """One batch of ``size`` inputs handed to the model after its oldest input waited ``wait_seconds``."""
        with self._lock:
            self._sizes.observe(float(size))
            self._waits.observe(wait_seconds)

    def set_queue_depth(self, model: str, n: int) -> None:
        """Inputs waiting right now."""
        self.queue_depth = n

    def observe_rejected(self) -> None:
        """One request refused because the queue was full."""
        with self._lock:
            self.rejected += 1

    def families(self) -> tuple[list[tuple[str, float]], float, list[tuple[str, float]], float]:
        """Cumulative size buckets and their sum, cumulative wait buckets and their sum."""
        with self._lock:
            return self._sizes.cumulative(), self._sizes.total, self._waits.cumulative(), self._waits.total


class BatchCollector(Collector):
    """Prometheus families of every batching model's ``BatchStats``."""

    def __init__(self, stats: Callable[[], Iterable[BatchStats]]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        sizes = HistogramMetricFamily("modelward_batch_size", "Inputs per batched predict call.",
                                      labels=["model_name"])
        waits = HistogramMetricFamily("modelward_batch_wait_seconds", "Time the oldest input of a batch "
                                      "waited in the queue before the model got the batch.", labels=["model_name"])
        depth = GaugeMetricFamily("modelward_batch_queue_depth", "Inputs waiting in the batch queue.",
                                  labels=["model_name"])
        rejected = CounterMetricFamily("modelward_batch_rejected", "Requests refused (503) because the "
                                       "batch queue was full.", labels=["model_name"])
        for stats in self._stats():
            size_buckets, size_sum, wait_buckets, wait_sum = stats.families()
            sizes.add_metric([stats.model], size_buckets, size_sum)
            waits.add_metric([stats.model], wait_buckets, wait_sum)
            depth.add_metric([stats.model], float(stats.queue_depth))
            rejected.add_metric([stats.model], float(stats.rejected))
        yield from (sizes, waits, depth, rejected)
