"""Spans per decorator layer, recorded by the OpenTelemetry SDK's in-memory exporter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from modelward.metrics.tracing import instrument
from modelward.model import MLModelDecorator, PredictionNotAvailable
from modelward.model.context import request_id
from tests.conftest import child_env
from tests.fixtures import EchoInput, EchoModel, SuffixDecorator


class Refusing(MLModelDecorator):
    def predict(self, data: Any) -> Any:
        return PredictionNotAvailable(messages=["no"]) if data.value > 10 else self.model.predict(data)


def traced() -> tuple[InMemorySpanExporter, Any]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter, provider.get_tracer("test")


def test_one_nested_span_per_layer_outermost_first() -> None:
    exporter, tracer = traced()
    model = Refusing().set_model(SuffixDecorator(suffix="!").set_model(EchoModel(version="3")))
    instrument(model, tracer)
    instrument(model, tracer)  # twice: still one span per layer
    token = request_id.set("r-1")
    try:
        assert model.predict(EchoInput(value=1)).label == "x!"
    finally:
        request_id.reset(token)
    spans = exporter.get_finished_spans()
    names = [s.name for s in spans]
    assert names == ["predict EchoModel", "predict SuffixDecorator", "predict Refusing"]  # finished inner first
    inner, middle, outer = spans
    assert inner.parent.span_id == middle.context.span_id and middle.parent.span_id == outer.context.span_id
    assert outer.attributes["modelward.model_name"] == "echo_model"
    assert outer.attributes["modelward.model_version"] == "3" and outer.attributes["modelward.request_id"] == "r-1"
    exporter.clear()
    assert isinstance(model.predict(EchoInput(value=50)), PredictionNotAvailable)
    (span,) = exporter.get_finished_spans()
    assert span.attributes["modelward.denied"] is True


def test_an_error_is_recorded_on_the_span() -> None:
    from tests.fixtures import RaisingModel

    exporter, tracer = traced()
    model = instrument(SuffixDecorator(suffix="!").set_model(RaisingModel()), tracer)
    with pytest.raises(ValueError, match="internal model failure"):
        model.predict(EchoInput(value=1))
    spans = exporter.get_finished_spans()
    assert len(spans) == 2 and all(s.status.status_code.name == "ERROR" for s in spans)
    assert spans[0].events[0].name == "exception"


CONFIG = """\
tracing: {tracing}
models:
  - class_path: tests.fixtures.EchoModel
    decorators: [{{class_path: tests.fixtures.SuffixDecorator, configuration: {{suffix: "!"}}}}]
"""

SCRIPT = """\
import sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from modelward.services.config import load_config
from modelward.services.loader import build_models
from tests.fixtures import EchoInput
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
(loaded,) = build_models(load_config(sys.argv[1]))
loaded.model.predict(EchoInput(value=2))
print(",".join(s.name for s in exporter.get_finished_spans()))
print("wrapped" if "predict" in loaded.model.__dict__ else "untouched")
"""


@pytest.mark.parametrize("tracing", [True, False])
def test_the_service_config_turns_tracing_on_and_off_uses_the_process_provider(tmp_path: Path,
                                                                              tracing: bool) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(tracing=str(tracing).lower()), encoding="utf-8")
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(config)], capture_output=True, text=True,
                            env=child_env(), check=False)
    assert result.returncode == 0, result.stderr
    spans, wrapped = result.stdout.splitlines()
    if tracing:
        assert (spans, wrapped) == ("predict EchoModel,predict SuffixDecorator", "wrapped")
    else:
        assert (spans, wrapped) == ("", "untouched")
