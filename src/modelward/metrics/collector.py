"""A collector that reads counters reported by the objects of each model's decorator chain."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

#: ``(name, help, labels, value)``: one counter value, as a decorator reports it
Sample = tuple[str, str, dict[str, str], float]


def create_registry() -> CollectorRegistry:
    """A fresh registry for one app."""
    return CollectorRegistry(auto_describe=False)


def chain(model: Any) -> Iterator[Any]:
    """The model and every object under it (``_model`` links, as decorators keep them)."""
    layer = model
    while layer is not None:
        yield layer
        layer = getattr(layer, "__dict__", {}).get("_model")


def samples_of(models: Iterable[Any]) -> list[Sample]:
    """Every sample reported by any object of any model's chain."""
    found: list[Sample] = []
    for model in models:
        for layer in chain(model):
            report = getattr(type(layer), "metric_samples", None)
            if callable(report):
                found.extend(report(layer))
    return found


class ChainCollector(Collector):
    """Counters from decorator chains, plus ``modelward_models_served`` (a gauge)."""

    def __init__(self, models: Callable[[], Iterable[Any]]) -> None:
        self._models = models

    def collect(self) -> Iterator[Metric]:
        """Called by the registry at each scrape."""
        models = list(self._models())
        served = GaugeMetricFamily("modelward_models_served", "Models loaded and served.")
        served.add_metric([], float(len(models)))
        yield served
        yield from families(samples_of(models))


def families(samples: Iterable[Sample]) -> list[CounterMetricFamily]:
    """Group samples by name into counter families (label names must agree within a name)."""
    grouped: dict[str, CounterMetricFamily] = {}
    keys: dict[str, list[str]] = {}
    for name, documentation, labels, value in samples:
        if name not in grouped:
            keys[name] = sorted(labels)
            grouped[name] = CounterMetricFamily(name, documentation, labels=keys[name])
        if sorted(labels) != keys[name]:
            logger.warning("metric %s reported with labels %s, expected %s; skipped", name, sorted(labels),
                           keys[name])
            continue
        grouped[name].add_metric([labels[k] for k in keys[name]], value)
    return list(grouped.values())


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The registry in Prometheus text format, and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST
