"""OpenTelemetry tracing of a prediction across the decorator chain: one span per layer.

Off by default, and then nothing is wrapped (zero cost). With ``tracing: true`` in the service
config, ``instrument(model)`` wraps the ``predict`` of every layer of the chain (outermost first) in
a span named ``predict <Layer>`` carrying ``modelward.model_name``, ``modelward.model_version``,
``modelward.request_id`` and, for a policy denial, ``modelward.denied``. Spans go to the tracer
provider the process configured (the OpenTelemetry SDK and an exporter, e.g. with
``opentelemetry-instrument``); with only the API installed they are no-ops. Needs the ``otel`` extra.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from modelward.errors import ConfigurationError
from modelward.model import PredictionNotAvailable
from modelward.model.context import current_request_id


def _tracer(tracer: Any | None) -> Any:
    if tracer is not None:
        return tracer
    try:
        from opentelemetry import trace
    except ImportError:
        raise ConfigurationError("tracing: true needs OpenTelemetry (pip install 'modelward[otel]')") from None
    return trace.get_tracer("modelward")


def layers(model: Any) -> list[Any]:
    """The chain from the outermost layer to the model."""
    found = []
    while model is not None:
        found.append(model)
        model = getattr(model, "__dict__", {}).get("_model")
    return found


def instrument(model: Any, tracer: Any | None = None) -> Any:
    """Wrap each layer's ``predict`` in a span; returns ``model`` (instrumenting twice does nothing)."""
    active = _tracer(tracer)
    for depth, layer in enumerate(layers(model)):
        if getattr(layer.__dict__.get("predict"), "__modelward_traced__", False):
            continue
        traced = _traced(active, layer, type(layer).predict.__get__(layer), depth)
        object.__setattr__(layer, "predict", traced)
    return model


def _traced(tracer: Any, layer: Any, predict: Callable[[Any], Any], depth: int) -> Callable[..., Any]:
    name = f"predict {type(layer).__name__}"

    @functools.wraps(predict)
    def run(data: Any) -> Any:
        with tracer.start_as_current_span(name) as span:
            span.set_attribute("modelward.model_name", str(layer.qualified_name))
            span.set_attribute("modelward.model_version", str(layer.version))
            span.set_attribute("modelward.layer", depth)
            request = current_request_id()
            if request is not None:
                span.set_attribute("modelward.request_id", request)
            result = predict(data)
            if isinstance(result, PredictionNotAvailable):
                span.set_attribute("modelward.denied", True)
            return result

    def call(data: Any = None, **kwargs: Any) -> Any:  # decorators call predict(data=...)
        return run(kwargs.get("data", data))

    call.__modelward_traced__ = True  # type: ignore[attr-defined]
    return call
