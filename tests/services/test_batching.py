"""The adaptive batcher: batches form, each caller gets its own answer, errors stay per request."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from modelward.errors import (
    ConfigurationError,
    PolicyUnavailable,
    PredictionError,
    RequestError,
    SchemaValidationError,
    ServiceOverloaded,
)
from modelward.model import MLModelDecorator, PredictionNotAvailable, annotate, as_request, batches, predict_many
from modelward.policy import PolicyDecorator
from modelward.services.batching import AdaptiveBatcher
from modelward.services.config import BatchingConfig, ModelConfig, parse_config
from modelward.services.dataplane import DataPlane, load_into
from modelward.services.inference import InferenceRequest, InferenceResult, to_python
from modelward.services.loader import LoadedModel, build_model
from tests.fixtures import BatchEchoModel, EchoModel
from tests.policy.helpers import write_policy


class Recorder:
    """A ``BatchObserver`` that keeps what it is told."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, int, float]] = []
        self.depths: list[int] = []

    def observe_batch(self, model: str, size: int, wait_seconds: float) -> None:
        self.batches.append((model, size, wait_seconds))

    def set_queue_depth(self, model: str, n: int) -> None:
        self.depths.append(n)


def batching_plane(model: Any, observer: Recorder | None = None, **batching: Any) -> DataPlane:
    plane = DataPlane(batch_observer=observer)
    config = ModelConfig(class_path="x.Y", batching=BatchingConfig(**batching))
    load_into(plane, lambda: [LoadedModel(model=model, config=config)])
    return plane


async def one(plane: DataPlane, value: float, label: str, rid: str | None = None) -> InferenceResult:
    return await plane.infer(InferenceRequest(model="batch_echo_model", inputs=[{"value": value, "label": label}],
                                              request_id=rid or label))


async def gather(plane: DataPlane, values: list[tuple[float, str]]) -> list[Any]:
    return await asyncio.gather(*(one(plane, v, label) for v, label in values), return_exceptions=True)


def test_concurrent_requests_form_batches_and_each_gets_its_own_answer() -> None:
    model = BatchEchoModel(delay=0.02)
    observer = Recorder()
    plane = batching_plane(model, observer, max_batch_size=8, max_batch_latency=50)
    results = asyncio.run(gather(plane, [(i, f"r{i}") for i in range(30)]))
    assert [to_python(r.outputs[0]) for r in results] == [{"doubled": 2.0 * i, "label": f"r{i}"} for i in range(30)]
    assert sum(model.sizes) == 30
    assert max(model.sizes) == 8 and len(model.sizes) < 30
    assert [size for _, size, _ in observer.batches] == model.sizes
    assert observer.depths[-1] == 0
    stats = plane.batchers()[0].stats
    size_buckets, size_sum, _, _ = stats.families()
    assert size_sum == 30 and size_buckets[-1] == ("+Inf", float(len(model.sizes)))
    plane.close()


def test_a_lone_request_on_an_idle_model_does_not_wait_for_company() -> None:
    model = BatchEchoModel()
    plane = batching_plane(model, max_batch_latency=2000)

    async def sequential() -> float:
        started = time.perf_counter()
        for i in range(3):
            await one(plane, i, f"s{i}")
        return time.perf_counter() - started

    assert asyncio.run(sequential()) < 1.0  # three requests, none waited the 2 s window
    assert model.sizes == [1, 1, 1]
    plane.close()


def test_errors_stay_with_their_request() -> None:
    model = BatchEchoModel(delay=0.02)
    plane = batching_plane(model, max_batch_size=16, max_batch_latency=50)
    values = [(1, "a"), (6, "boom"), (2, "b"), (7, "bad-output"), (3, "c")]
    results = asyncio.run(gather(plane, values))
    assert to_python(results[0].outputs[0]) == {"doubled": 2.0, "label": "a"}
    assert isinstance(results[1], PredictionError) and "ValueError" in results[1].message
    assert to_python(results[2].outputs[0]) == {"doubled": 4.0, "label": "b"}
    assert isinstance(results[3], PredictionError) and "output schema" in results[3].message
    assert to_python(results[4].outputs[0]) == {"doubled": 6.0, "label": "c"}
    assert max(model.sizes) > 1  # the failing batch really mixed them, then was predicted one by one
    plane.close()


def test_schema_errors_are_refused_before_the_queue() -> None:
    plane = batching_plane(BatchEchoModel())
    with pytest.raises(SchemaValidationError):
        asyncio.run(one(plane, -1, "neg"))
    assert plane.batchers()[0].stats.families()[1] == 0  # nothing reached a batch
    plane.close()


def test_policy_decisions_and_decision_log_lines_stay_per_request(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    policy = PolicyDecorator(policies=[str(write_policy(tmp_path / "p"))], package="echo_policy",
                             decision_log={"path": str(log), "include_input": True})
    model = BatchEchoModel(delay=0.02)
    plane = batching_plane(policy.set_model(model), max_batch_size=16, max_batch_latency=50)
    values = [(10, "ok1"), (500, "deny-in"), (90, "deny-out"), (20, "ok2"), (6, "boom")]
    results = asyncio.run(gather(plane, values))
    assert to_python(results[0].outputs[0]) == {"doubled": 20.0, "label": "ok1"}
    assert isinstance(results[1].outputs[0], PredictionNotAvailable)
    assert results[1].outputs[0].messages == ["value above 100"]
    assert results[2].outputs[0].messages == ["output above 150"]
    assert to_python(results[3].outputs[0]) == {"doubled": 40.0, "label": "ok2"}
    assert isinstance(results[4], PredictionError)
    assert max(model.sizes) > 1
    plane.close()  # flushes the decision log
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records and all(r["request_id"] == r["input"]["model_input"]["label"] for r in records)
    by_request = {(r["request_id"], r["stage"], r["result"]) for r in records}
    assert {("ok1", "input", "allow"), ("ok1", "output", "allow"), ("deny-in", "input", "deny"),
            ("deny-out", "output", "deny"), ("boom", "input", "allow")} <= by_request
    assert not any(r["request_id"] == "deny-in" and r["stage"] == "output" for r in records)


class Annotating(MLModelDecorator):
    """Adds the label of each input to the metadata of the request it came from."""

    def predict_batch(self, items: list[Any]) -> list[Any]:
        for item in items:
            as_request(item, annotate, "seen", item.label)
        return predict_many(self.model, items)


def test_response_metadata_stays_per_request() -> None:
    plane = batching_plane(Annotating().set_model(BatchEchoModel(delay=0.02)), max_batch_size=16,
                           max_batch_latency=50)
    results = asyncio.run(gather(plane, [(i, f"m{i}") for i in range(10)]))
    assert [r.meta for r in results] == [{"seen": f"m{i}"} for i in range(10)]
    plane.close()


def test_a_full_queue_refuses_with_retry_after_and_never_grows() -> None:
    model = BatchEchoModel(delay=0.2)
    plane = batching_plane(model, max_batch_size=1, max_queue=2)
    results = asyncio.run(gather(plane, [(i, f"q{i}") for i in range(6)]))
    refused = [r for r in results if isinstance(r, ServiceOverloaded)]
    answered = [r for r in results if isinstance(r, InferenceResult)]
    assert refused and answered and len(refused) + len(answered) == 6
    assert all(r.retry_after >= 1 and "overloaded" in r.message for r in refused)
    assert plane.batchers()[0].stats.rejected == len(refused)
    with pytest.raises(RequestError, match="more than model 'batch_echo_model' can queue"):
        asyncio.run(plane.infer(InferenceRequest(model="batch_echo_model", many=True,
                                                 inputs=[{"value": 1}] * 3)))
    plane.close()


def test_close_answers_every_queued_request_then_refuses() -> None:
    model = BatchEchoModel(delay=0.05)
    plane = batching_plane(model, max_batch_size=2)

    async def scenario() -> list[Any]:
        tasks = [asyncio.create_task(one(plane, i, f"d{i}")) for i in range(8)]
        await asyncio.sleep(0.02)  # all queued, the first batch running
        closer = threading.Thread(target=plane.close)
        closer.start()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        closer.join()
        return results

    results = asyncio.run(scenario())
    assert [to_python(r.outputs[0])["label"] for r in results] == [f"d{i}" for i in range(8)]
    with pytest.raises(ServiceOverloaded, match="shutting down"):
        asyncio.run(one(plane, 1, "late"))


def test_a_request_larger_than_a_batch_is_predicted_in_slices() -> None:
    model = BatchEchoModel()
    plane = batching_plane(model, max_batch_size=4)
    result = asyncio.run(plane.infer(InferenceRequest(model="batch_echo_model", many=True,
                                                      inputs=[{"value": i} for i in range(10)])))
    assert [to_python(o)["doubled"] for o in result.outputs] == [2.0 * i for i in range(10)]
    assert model.sizes == [4, 4, 2]
    plane.close()


class Unreliable(MLModelDecorator):
    """Its predict_batch answers the wrong number of outputs, or fails the policy engine."""

    def predict_batch(self, items: list[Any]) -> list[Any]:
        if any(item.label == "unavailable" for item in items):
            raise PolicyUnavailable("the policy could not be evaluated")
        return predict_many(self.model, items)[:-1]

    def predict(self, data: Any) -> Any:
        if data.label == "unavailable":
            raise PolicyUnavailable("the policy could not be evaluated")
        return self.model.predict(data)


def test_a_batch_answer_of_the_wrong_length_or_a_domain_error_falls_back_per_request() -> None:
    plane = batching_plane(Unreliable().set_model(BatchEchoModel(delay=0.02)), max_batch_size=8,
                           max_batch_latency=50)
    results = asyncio.run(gather(plane, [(1, "a"), (2, "unavailable"), (3, "c")]))
    assert to_python(results[0].outputs[0])["label"] == "a"
    assert isinstance(results[1], PolicyUnavailable)
    assert to_python(results[2].outputs[0])["label"] == "c"
    plane.close()


def test_decorators_forward_batches_unless_they_override_predict() -> None:
    class PerItem(MLModelDecorator):
        def predict(self, data: Any) -> Any:
            output = self.model.predict(data)
            return output.model_copy(update={"label": output.label + "!"})

    inner = BatchEchoModel()
    forwarded = MLModelDecorator().set_model(inner)
    assert batches(forwarded) and not batches(EchoModel())
    items = [EchoModel.input_schema(value=1), EchoModel.input_schema(value=2)]
    assert [o.doubled for o in forwarded.predict_batch(items)] == [2.0, 4.0] and inner.sizes == [2]
    assert [o.label for o in PerItem().set_model(inner).predict_batch(items)] == ["x!", "x!"]
    assert inner.sizes == [2]  # PerItem saw each input through its own predict


def test_batching_config_is_validated() -> None:
    config = parse_config("models:\n  - class_path: a.B\n    batching: {max_batch_size: 4}\n")
    assert config.models[0].batching == BatchingConfig(max_batch_size=4, max_batch_latency=5, max_queue=1024)
    assert parse_config("models:\n  - class_path: a.B\n").models[0].batching is None
    with pytest.raises(ConfigurationError, match=r"models\[0\]\.batching\.max_queue_size: unknown key"):
        parse_config("models:\n  - class_path: a.B\n    batching: {max_queue_size: 4}\n")
    with pytest.raises(ConfigurationError, match=r"models\[0\]\.batching\.max_batch_size: Input should be "
                       "greater than or equal to 1"):
        parse_config("models:\n  - class_path: a.B\n    batching: {max_batch_size: 0}\n")
    with pytest.raises(ValidationError):
        BatchingConfig(max_batch_latency=-1)


def test_a_model_without_predict_batch_cannot_be_configured_to_batch() -> None:
    with pytest.raises(ConfigurationError, match=r"models\[0\]\.batching: EchoModel has no predict_batch"):
        build_model(ModelConfig(class_path="tests.fixtures.EchoModel", batching=BatchingConfig()), "models[0]")
    loaded = build_model(ModelConfig(class_path="tests.fixtures.BatchEchoModel", batching=BatchingConfig(),
                                     decorators=[{"class_path": "tests.fixtures.SuffixDecorator",
                                                  "configuration": {"suffix": "!"}}]), "models[0]")
    assert isinstance(loaded.model.predict_batch([EchoModel.input_schema(value=1)])[0].label, str)


def test_unbatched_models_keep_the_direct_scheduler() -> None:
    plane = DataPlane()
    load_into(plane, lambda: [LoadedModel(model=EchoModel(), config=ModelConfig(class_path="x.Y"))])
    assert plane.batchers() == [] and not isinstance(plane.endpoints()[0].scheduler, AdaptiveBatcher)
