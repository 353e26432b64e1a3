"""Prometheus metrics on a registry passed in (never the process-global one).

``ServingMetrics`` holds the request, policy, batch, feedback, outlier and drift metrics with typed
``observe_*`` methods. Any object in a model's decorator chain can also report counters by defining
``metric_samples(self) -> list[tuple[name, help, labels, value]]``; ``ChainCollector`` walks the
chains at scrape time and turns them into Prometheus counter families (``<name>_total``).
``modelward.metrics.drift`` compares logged inputs with a training profile;
``modelward.metrics.dashboard`` renders a Grafana dashboard on these metric names.
"""

from modelward.metrics.batching import BatchCollector, BatchStats
from modelward.metrics.collector import ChainCollector, Sample, create_registry, exposition
from modelward.metrics.serving import ServingMetrics

__all__ = ["BatchCollector", "BatchStats", "ChainCollector", "Sample", "ServingMetrics", "create_registry",
           "exposition"]
