"""The protocol-independent data plane."""

from __future__ import annotations

import json

import pytest

from modelward.errors import ModelNotFound, PredictionError, RequestError, SchemaValidationError
from modelward.model import MLModelDecorator, PredictionNotAvailable
from modelward.services.config import ModelConfig
from modelward.services.dataplane import DataPlane, ModelEndpoint, load_into
from modelward.services.loader import LoadedModel
from tests.fixtures import EchoModel, RaisingModel


class DenyAll(MLModelDecorator):
    def predict(self, data: object) -> PredictionNotAvailable:
        return PredictionNotAvailable(messages=["no"]).with_status(451)


def plane_with(*models: object, create_endpoint: bool = True) -> DataPlane:
    plane = DataPlane(max_batch=3)
    config = ModelConfig(class_path="x.Y", create_endpoint=create_endpoint)
    load_into(plane, lambda: [LoadedModel(model=m, config=config) for m in models])
    return plane


def test_predict_one() -> None:
    plane = plane_with(EchoModel())
    endpoint, data = plane.prepare("echo_model", b'{"value": 21, "label": "q"}')
    answer = plane.run_one(endpoint, data)
    assert json.loads(answer.body) == {"doubled": 42.0, "label": "q"}
    assert answer.status_code == 200


def test_batch_keeps_order_and_reports_every_bad_item() -> None:
    plane = plane_with(EchoModel())
    endpoint, items = plane.prepare_batch("echo_model", b'[{"value": 1}, {"value": 2}]')
    assert json.loads(plane.run_many(endpoint, items).body) == [
        {"doubled": 2.0, "label": "x"}, {"doubled": 4.0, "label": "x"}]
    with pytest.raises(SchemaValidationError) as info:
        plane.prepare_batch("echo_model", b'[{"value": 1}, {"value": -1}, {"label": 3}]')
    fields = [e["field"] for e in info.value.errors]
    assert fields == ["[1].value", "[2].value", "[2].label"]


def test_batch_limits_and_shape() -> None:
    plane = plane_with(EchoModel())
    with pytest.raises(RequestError, match="larger than the limit 3"):
        plane.prepare_batch("echo_model", b"[{}, {}, {}, {}]")
    with pytest.raises(RequestError, match="expected a JSON list"):
        plane.prepare_batch("echo_model", b'{"value": 1}')


def test_schema_errors_name_fields() -> None:
    plane = plane_with(EchoModel())
    with pytest.raises(SchemaValidationError) as info:
        plane.prepare("echo_model", b'{"value": "many"}')
    assert info.value.errors[0]["field"] == "value"
    with pytest.raises(SchemaValidationError, match="expected a JSON object"):
        plane.prepare("echo_model", b"[1]")


def test_unknown_and_endpointless_models() -> None:
    plane = plane_with(EchoModel(), create_endpoint=False)
    with pytest.raises(ModelNotFound, match="no model named 'other' is served"):
        plane.endpoint("other")
    assert plane.endpoint("echo_model").qualified_name == "echo_model"
    with pytest.raises(ModelNotFound):
        plane.endpoint("echo_model", for_prediction=True)


def test_model_failure_is_a_prediction_error() -> None:
    plane = plane_with(RaisingModel())
    endpoint, data = plane.prepare("raising_model", b'{"value": 1}')
    with pytest.raises(PredictionError, match=r"model .raising_model. failed to predict \(ValueError\)"):
        plane.run_one(endpoint, data)


def test_prediction_not_available_carries_its_status() -> None:
    plane = plane_with(DenyAll().set_model(EchoModel()))
    endpoint, data = plane.prepare("echo_model", b'{"value": 1}')
    answer = plane.run_one(endpoint, data)
    assert answer.status_code == 451
    assert json.loads(answer.body) == {"messages": ["no"]}


def test_load_failure_is_recorded() -> None:
    plane = DataPlane()

    def broken() -> list[LoadedModel]:
        raise RuntimeError("store down")

    with pytest.raises(RuntimeError):
        load_into(plane, broken)
    assert plane.status.error == "store down"
    assert plane.status.started is False


def test_metadata_lists_schemas() -> None:
    (meta,) = plane_with(EchoModel(version="9.9.9")).metadata()
    assert meta["qualified_name"] == "echo_model"
    assert meta["version"] == "9.9.9"
    assert meta["input_schema"]["properties"]["value"]["maximum"] == 1000
    assert meta["output_schema"]["title"] == "EchoOutput"


def endpoint_with(execution: str) -> ModelEndpoint:
    config = ModelConfig(class_path="x.Y", execution=execution)  # type: ignore[arg-type]
    return ModelEndpoint(LoadedModel(model=EchoModel(), config=config))


def test_auto_execution_goes_inline_only_while_predictions_are_fast() -> None:
    endpoint = endpoint_with("auto")
    assert endpoint.runs_inline() is False  # nothing measured yet: a thread, in case the model is slow
    endpoint.observe(0.002)
    assert endpoint.runs_inline() is True
    assert endpoint.runs_inline(batch=True) is False  # batches always go to a thread
    for _ in range(5):
        endpoint.observe(0.5)  # the model became slow: back to a thread
    assert endpoint.runs_inline() is False
    for _ in range(40):
        endpoint.observe(0.001)
    assert endpoint.runs_inline() is True


@pytest.mark.parametrize(("execution", "inline"), [("thread", False), ("inline", True)])
def test_fixed_execution_ignores_timings(execution: str, inline: bool) -> None:
    endpoint = endpoint_with(execution)
    endpoint.observe(0.001)
    assert endpoint.runs_inline() is inline
    endpoint.observe(5.0)
    assert endpoint.runs_inline() is inline
