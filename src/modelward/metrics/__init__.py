"""Prometheus metrics on a registry passed in (never the process-global one).

Any object in a model's decorator chain can report counters by defining
``metric_samples(self) -> list[tuple[name, help, labels, value]]``; ``ChainCollector`` walks the
chains at scrape time and turns them into Prometheus counter families (``<name>_total``).
"""

from modelward.metrics.batching import BatchCollector, BatchStats
from modelward.metrics.collector import ChainCollector, Sample, create_registry, exposition

__all__ = ["BatchCollector", "BatchStats", "ChainCollector", "Sample", "create_registry", "exposition"]
