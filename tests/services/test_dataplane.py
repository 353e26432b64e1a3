"""The protocol-independent data plane."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from modelward.decorators import PayloadLogDecorator
from modelward.errors import ModelNotFound, PredictionError, RequestError, SchemaValidationError
from modelward.model import Feedback, MLModelDecorator, PredictionNotAvailable, annotate
from modelward.model.context import defer_until_answer
from modelward.services.config import BatchingConfig, ModelConfig
from modelward.services.dataplane import GROUP_COMMIT_WINDOW, DataPlane, ModelEndpoint, load_into
from modelward.services.inference import FeedbackRequest, InferenceRequest, InferenceResult, to_python
from modelward.services.loader import LoadedModel
from tests.fixtures import EchoInput, EchoModel, RaisingModel, SleepyModel


class DenyAll(MLModelDecorator):
    def predict(self, data: object) -> PredictionNotAvailable:
        return PredictionNotAvailable(messages=["no"]).with_status(451)


def plane_with(*models: object, create_endpoint: bool = True) -> DataPlane:
    plane = DataPlane(max_batch=3)
    config = ModelConfig(class_path="x.Y", create_endpoint=create_endpoint)
    load_into(plane, lambda: [LoadedModel(model=m, config=config) for m in models])
    return plane


def infer(plane: DataPlane, name: str, body: bytes, *, many: bool = False, version: str | None = None,
          protocol: str = "native") -> InferenceResult:
    inputs = plane.parse_body(body, many=many)
    request = InferenceRequest(model=name, inputs=inputs, many=many, version=version, protocol=protocol,
                               request_id="rid-1")
    return asyncio.run(plane.infer(request))


def test_predict_one() -> None:
    plane = plane_with(EchoModel())
    result = infer(plane, "echo_model", b'{"value": 21, "label": "q"}')
    assert [to_python(o) for o in result.outputs] == [{"doubled": 42.0, "label": "q"}]
    assert (result.model, result.version, result.request_id) == ("echo_model", "1.0.0", "rid-1")
    assert result.status_code() == 200


def test_inputs_may_be_python_values_from_any_codec() -> None:
    plane = plane_with(EchoModel())
    request = InferenceRequest(model="echo_model", inputs=[{"value": 2}, {"value": 3}], many=True, protocol="v2")
    result = asyncio.run(plane.infer(request))
    assert [to_python(o)["doubled"] for o in result.outputs] == [4.0, 6.0]
    with pytest.raises(RequestError, match="expected one input, got 2"):
        asyncio.run(plane.infer(InferenceRequest(model="echo_model", inputs=[{"value": 2}, {"value": 3}])))


def test_batch_keeps_order_and_reports_every_bad_item() -> None:
    plane = plane_with(EchoModel())
    result = infer(plane, "echo_model", b'[{"value": 1}, {"value": 2}]', many=True)
    assert [to_python(o) for o in result.outputs] == [{"doubled": 2.0, "label": "x"}, {"doubled": 4.0, "label": "x"}]
    with pytest.raises(SchemaValidationError) as info:
        infer(plane, "echo_model", b'[{"value": 1}, {"value": -1}, {"label": 3}]', many=True)
    fields = [e["field"] for e in info.value.errors]
    assert fields == ["[1].value", "[2].value", "[2].label"]


def test_batch_limits_and_shape() -> None:
    plane = plane_with(EchoModel())
    with pytest.raises(RequestError, match="larger than the limit 3"):
        infer(plane, "echo_model", b"[{}, {}, {}, {}]", many=True)
    with pytest.raises(RequestError, match="expected a JSON list"):
        infer(plane, "echo_model", b'{"value": 1}', many=True)


def test_schema_errors_name_fields() -> None:
    plane = plane_with(EchoModel())
    with pytest.raises(SchemaValidationError) as info:
        infer(plane, "echo_model", b'{"value": "many"}')
    assert info.value.errors[0]["field"] == "value"
    with pytest.raises(SchemaValidationError, match="expected a JSON object"):
        infer(plane, "echo_model", b"[1]")


def test_unknown_and_endpointless_models() -> None:
    plane = plane_with(EchoModel(), create_endpoint=False)
    with pytest.raises(ModelNotFound, match="no model named 'other' is served"):
        plane.endpoint("other")
    assert plane.endpoint("echo_model").qualified_name == "echo_model"
    with pytest.raises(ModelNotFound):
        plane.endpoint("echo_model", for_prediction=True)


def test_models_are_addressed_by_version() -> None:
    plane = plane_with(EchoModel(version="2.1.0"))
    assert infer(plane, "echo_model", b'{"value": 1}', version="2.1.0").version == "2.1.0"
    with pytest.raises(ModelNotFound, match=r"version '1.0.0' is not served .it serves version '2.1.0'"):
        infer(plane, "echo_model", b'{"value": 1}', version="1.0.0")


def test_model_failure_is_a_prediction_error() -> None:
    plane = plane_with(RaisingModel())
    with pytest.raises(PredictionError, match=r"model .raising_model. failed to predict \(ValueError\)"):
        infer(plane, "raising_model", b'{"value": 1}')


def test_prediction_not_available_carries_its_status() -> None:
    plane = plane_with(DenyAll().set_model(EchoModel()))
    result = infer(plane, "echo_model", b'{"value": 1}')
    assert result.status_code() == 451
    assert [to_python(o) for o in result.denied] == [{"messages": ["no"]}]


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str, str]] = []
        self.feedback: list[tuple[str, str, float | None]] = []
        self.recorded: list[tuple[FeedbackRequest, str]] = []

    def observe_request(self, model: str, version: str, protocol: str, status: str, seconds: float) -> None:
        assert seconds >= 0
        self.requests.append((model, version, protocol, status))

    def observe_feedback(self, model: str, route: str, reward: float | None) -> None:
        self.feedback.append((model, route, reward))

    def record(self, feedback: FeedbackRequest, version: str) -> None:
        self.recorded.append((feedback, version))


def test_every_request_is_observed_with_its_outcome() -> None:
    plane = plane_with(EchoModel(), DenyAll().set_model(RaisingModel()))
    plane.observer = recorder = Recorder()
    infer(plane, "echo_model", b'{"value": 1}', protocol="v2")
    infer(plane, "raising_model", b'{"value": 1}')
    with pytest.raises(SchemaValidationError):
        infer(plane, "echo_model", b'{"value": -1}')
    with pytest.raises(ModelNotFound):
        infer(plane, "nope", b'{"value": 1}')
    assert recorder.requests == [("echo_model", "1.0.0", "v2", "ok"), ("raising_model", "1.0.0", "native", "denied"),
                                 ("echo_model", "1.0.0", "native", "SchemaValidationError"),
                                 ("nope", "", "native", "ModelNotFound")]


class Learner(MLModelDecorator):
    def receive_feedback(self, feedback: Feedback) -> None:
        self.__dict__.setdefault("seen", []).append(feedback)


class AnnotatingModel(EchoModel):
    def predict(self, data: Any) -> Any:
        annotate("route", "champion")
        return super().predict(data)


def test_feedback_is_recorded_then_reaches_the_layers_that_want_it() -> None:
    learner = Learner()
    plane = plane_with(learner.set_model(AnnotatingModel()))
    plane.observer = plane.feedback_sink = recorder = Recorder()
    result = infer(plane, "echo_model", b'{"value": 1}')
    assert result.meta == {"route": "champion"}
    request = FeedbackRequest(model="echo_model", request={"value": 1}, response=to_python(result.outputs[0]),
                              reward=1.0, routing=result.meta, protocol="seldon")
    outcome = asyncio.run(plane.feedback(request))
    assert outcome.delivered_to == ["Learner"] and outcome.recorded
    assert recorder.recorded == [(request, "1.0.0")]
    assert recorder.feedback == [("echo_model", "champion", 1.0)]
    (seen,) = learner.__dict__["seen"]
    assert (seen.reward, seen.routing, seen.version, seen.protocol) == (1.0, {"route": "champion"}, "1.0.0", "seldon")


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


def test_a_payload_journal_fsync_runs_before_the_answer_and_is_shared(tmp_path: Path) -> None:
    """The payload log defers its fsync to the data plane, which runs it before answering: 32
    concurrent requests predicted on the event loop are all on disk when answered, and share
    fsyncs (one fsync per turn of the loop, not one per request)."""
    model = PayloadLogDecorator(journal=str(tmp_path / "journal"), fsync="always",
                                sink={"type": "jsonl", "path": str(tmp_path / "sink.jsonl")}).set_model(EchoModel())
    journal = model._journal
    plane = DataPlane()
    config = ModelConfig(class_path="x.Y", execution="inline")  # a fast model predicts on the event loop
    load_into(plane, lambda: [LoadedModel(model=model, config=config)])
    synced_when_answered: list[tuple[int, int]] = []

    async def one(value: int) -> None:
        await plane.infer(InferenceRequest(model="echo_model", inputs=[{"value": value}]))
        synced_when_answered.append((journal._synced, value))

    async def many() -> None:
        await asyncio.gather(*(one(value) for value in range(32)))

    asyncio.run(many())
    assert len(synced_when_answered) == 32 and journal._written == 32
    # every answer came after an fsync that covered at least as many records as had been answered
    assert all(synced >= rank + 1 for rank, (synced, _) in enumerate(sorted(synced_when_answered)))
    assert journal.group_fsyncs < 32, "each request paid its own fsync: the deferred waits were not shared"
    model.predict(EchoInput(value=1))  # outside a served request the decorator waits itself
    assert journal._synced == journal._written == 33
    model.close()


class Deferring(MLModelDecorator):
    """Registers a wait per prediction: it fails for a value of 13."""

    calls: list[float]

    def predict(self, data: Any) -> Any:
        value = data.value

        def wait() -> None:
            if value == 13:
                raise PredictionError("the wait for 13 failed")
            type(self).calls.append(value)

        assert defer_until_answer(wait)
        return self.model.predict(data)


def test_deferred_waits_run_before_the_answer_and_their_errors_fail_only_their_request() -> None:
    Deferring.calls = []
    plane = plane_with(Deferring().set_model(EchoModel()))

    async def run() -> list[Any]:
        return await asyncio.gather(*(plane.infer(InferenceRequest(model="echo_model", inputs=[{"value": v}]))
                                      for v in (1, 13, 2)), return_exceptions=True)

    first, failed, third = asyncio.run(run())
    assert isinstance(failed, PredictionError) and "the wait for 13 failed" in failed.message
    assert isinstance(first, InferenceResult) and isinstance(third, InferenceResult)
    assert sorted(Deferring.calls) == [1, 2]


class WhereWaited(MLModelDecorator):
    """Registers a wait that notes the thread it ran in (and sleeps ``wait_seconds``)."""

    threads: list[int]
    wait_seconds = 0.0

    def predict(self, data: Any) -> Any:
        def wait() -> None:
            time.sleep(type(self).wait_seconds)
            type(self).threads.append(threading.get_ident())

        assert defer_until_answer(wait)
        return self.model.predict(data)


def test_durability_waits_run_on_the_loop_only_while_it_has_nothing_else_to_do() -> None:
    """A wait (the journal's fsync) runs on the event loop when no other request is being predicted
    and recent waits were short; in a worker thread while another request is predicted in a thread
    (the loop goes on meanwhile), and once the waits became slow (the disk stalls)."""
    WhereWaited.threads, WhereWaited.wait_seconds = [], 0.0
    plane = DataPlane()
    load_into(plane, lambda: [
        LoadedModel(model=WhereWaited().set_model(EchoModel()), config=ModelConfig(class_path="x.Y",
                                                                                  execution="inline")),
        LoadedModel(model=SleepyModel(), config=ModelConfig(class_path="x.Z", batching=BatchingConfig()))])
    loop_thread = threading.get_ident()
    echo = InferenceRequest(model="echo_model", inputs=[{"value": 1}])

    asyncio.run(plane.infer(echo))  # alone: the loop would only wait for a thread
    assert WhereWaited.threads == [loop_thread] and plane.durability.inline_flushes == 1

    async def beside_a_slow_one() -> None:
        slow = asyncio.ensure_future(plane.infer(InferenceRequest(model="sleepy_model", inputs=[{"value": 300}])))
        await asyncio.sleep(0.05)  # the sleepy model is being predicted in its batch thread (300 ms)
        await plane.infer(echo)
        assert not slow.done()
        await slow
        await plane.infer(echo)

    WhereWaited.threads = []
    asyncio.run(beside_a_slow_one())
    assert WhereWaited.threads[0] != loop_thread  # while the sleepy model was predicted
    assert WhereWaited.threads[1] == loop_thread  # alone again

    WhereWaited.threads, WhereWaited.wait_seconds = [], 0.02  # the disk became slow
    for _ in range(8):
        asyncio.run(plane.infer(echo))
    assert WhereWaited.threads[0] == loop_thread and WhereWaited.threads[-1] != loop_thread
    assert plane.durability.thread_flushes >= 2


class BusyModel(EchoModel):
    """A model that computes for 0.8 ms and waits for 2.4 ms per prediction: CPU-bound enough for the
    thread hand-off to run its calls one at a time, in order, and releasing the GIL most of the time,
    so each answer reaches the event loop as soon as it is predicted."""

    qualified_name = "busy_model"

    def predict(self, data: Any) -> Any:
        until = time.thread_time() + 0.0008
        while time.thread_time() < until:
            pass
        time.sleep(0.0024)
        return super().predict(data)


def test_requests_predicted_in_a_thread_share_fsyncs_within_the_group_commit_window(tmp_path: Path) -> None:
    """A CPU-bound model in a worker thread finishes one request at a time (here every 3 ms, slower
    than an fsync): finished requests wait, up to the window, for the records of those still being
    predicted, so eight requests share a few fsyncs instead of paying one each; every answer is on
    disk when it is given."""
    model = PayloadLogDecorator(journal=str(tmp_path / "journal"), fsync="always",
                                sink={"type": "jsonl", "path": str(tmp_path / "sink.jsonl")}).set_model(BusyModel())
    journal = model._journal
    plane = DataPlane()
    load_into(plane, lambda: [LoadedModel(model=model, config=ModelConfig(class_path="x.Y", execution="thread"))])
    synced_when_answered: list[int] = []

    async def one() -> None:
        await plane.infer(InferenceRequest(model="busy_model", inputs=[{"value": 3}]))
        synced_when_answered.append(journal._synced)

    async def many() -> None:
        await asyncio.gather(*(one() for _ in range(8)))

    started = time.perf_counter()
    asyncio.run(many())
    elapsed = time.perf_counter() - started
    assert sorted(synced_when_answered) == synced_when_answered and len(synced_when_answered) == 8
    assert all(synced >= rank + 1 for rank, synced in enumerate(synced_when_answered))
    # a flush while others were predicted waited for the window: at most one per window, and the last
    flushes = plane.durability.inline_flushes + plane.durability.thread_flushes
    assert flushes <= elapsed / GROUP_COMMIT_WINDOW + 2, f"{flushes} flushes in {elapsed * 1000:.0f} ms"
    assert journal.group_fsyncs <= flushes
    model.close()
