"""Counters reported by decorator chains, on a registry per app."""

from __future__ import annotations

from typing import Any

from modelward.metrics import ChainCollector, create_registry, exposition
from modelward.model import MLModelDecorator
from tests.fixtures import EchoModel


class Counting(MLModelDecorator):
    def metric_samples(self) -> list[tuple[str, str, dict[str, str], float]]:
        return [("toy_events", "Toy events.", {"model": self.model.qualified_name}, 3.0),
                ("toy_events", "Toy events.", {"other": "label"}, 1.0)]


def scrape(models: list[Any]) -> str:
    registry = create_registry()
    registry.register(ChainCollector(lambda: models))
    body, content_type = exposition(registry)
    assert content_type.startswith("text/plain")
    return body.decode()


def test_samples_of_every_layer_become_counters() -> None:
    text = scrape([Counting().set_model(Counting().set_model(EchoModel()))])
    assert "# TYPE toy_events_total counter" in text
    assert text.count('toy_events_total{model="echo_model"} 3.0') == 2
    assert 'other="label"' not in text  # label names must agree within one metric
    assert "modelward_models_served 1.0" in text


def test_registries_are_independent() -> None:
    assert "toy_events" not in scrape([EchoModel()])
    assert "toy_events" in scrape([Counting().set_model(EchoModel())])
