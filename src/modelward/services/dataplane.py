"""The data plane: protocol-independent prediction over the loaded models (MLServer's DataPlane).

Protocol codecs in ``modelward.serving`` decode their wire format into an ``InferenceRequest``,
make one call (``DataPlane.infer`` or ``DataPlane.feedback``) and encode the result; they map the
``ModelwardError`` it raises to a status in one place (``modelward.serving.errors``). A request goes
down once (codec → data plane → scheduler → decorator chain → model) and comes back once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from modelward.errors import (
    ModelNotFound,
    ModelwardError,
    PredictionError,
    RequestError,
    SchemaValidationError,
)
from modelward.model import PredictionNotAvailable, receives_feedback
from modelward.model.context import durability_waits, request_id, response_metadata
from modelward.services.batching import AdaptiveBatcher, BatchObserver
from modelward.services.config import dotted
from modelward.services.handoff import ThreadHandoff, settle
from modelward.services.inference import (
    FeedbackRequest,
    FeedbackResult,
    FeedbackSink,
    InferenceRequest,
    InferenceResult,
    RequestObserver,
    outlier_scores,
)
from modelward.services.jsonbody import loads_strict
from modelward.services.loader import LoadedModel
from modelward.services.scheduling import DirectScheduler, InlineScheduler, Scheduler

logger = logging.getLogger(__name__)

#: ``execution: auto`` predicts on the event loop while the model's recent calls take less than this
INLINE_LIMIT = 0.010
#: durability waits (the payload journal's fsync) run on the event loop while they take less than this
INLINE_WAIT_LIMIT = 0.002
#: while other requests are being predicted, finished requests wait at most this long for their
#: records to share an fsync with theirs (group commit; see ``DurabilityWaits``)
GROUP_COMMIT_WINDOW = 0.010


def validation_errors(exc: ValidationError, prefix: tuple[int | str, ...] = ()) -> list[dict[str, Any]]:
    """Pydantic errors as ``{"field", "message", "type"}`` dicts naming the field path."""
    return [
        {
            "field": dotted((*prefix, *error["loc"])),
            "message": error["msg"],
            "type": error["type"],
        }
        for error in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
               float: "a number", type(None): "null"}


Waits = list[Callable[[], None]]


def _wait_each(batch: list[tuple[Waits, asyncio.Future[None]]]) -> list[BaseException | None]:
    """Every request's waits, in order (in a worker thread); what each request's waits raised."""
    outcomes: list[BaseException | None] = []
    for waits, _ in batch:
        try:
            for wait in waits:
                wait()
            outcomes.append(None)
        except Exception as exc:
            outcomes.append(exc)
    return outcomes


class DurabilityWaits:
    """Runs the durability waits of finished requests together, before they are answered.

    The waits of every request that finished meanwhile run as one call: the first wait's fsync
    covers the records of all of them and the others return at once (group commit). When is set by
    what else the loop is doing: while no other request of the loop is being predicted, at once
    (after the current turn); while others are (their records are coming), up to
    ``GROUP_COMMIT_WINDOW`` after the oldest waiting request finished, or as soon as none is left
    predicting. A model predicted in a worker thread finishes one request at a time, so without that
    window every request would pay an fsync and two thread hand-offs of its own.

    Where the call runs: while no other request is being predicted and the recent waits were short
    (under ``INLINE_WAIT_LIMIT``), on the loop itself, since a worker thread would gain nothing (the
    loop would only wait for it) and its hand-off costs more CPU than the fsync; otherwise, or once
    the disk is slow, in a worker thread, so the loop goes on meanwhile.
    """

    def __init__(self) -> None:
        self._pending: dict[asyncio.AbstractEventLoop, list[tuple[Waits, asyncio.Future[None]]]] = {}
        self._since: dict[asyncio.AbstractEventLoop, float] = {}  # when the oldest pending request finished
        self._timers: dict[asyncio.AbstractEventLoop, asyncio.TimerHandle] = {}
        self._busy: dict[asyncio.AbstractEventLoop, int] = {}
        self.recent: float | None = None  # moving average of a flush's seconds
        self.inline_flushes = self.thread_flushes = 0

    @contextmanager
    def predicting(self) -> Iterator[None]:
        """Marks a request of the running loop as being predicted (its waits are not registered yet)."""
        loop = asyncio.get_running_loop()
        self._busy[loop] = self._busy.get(loop, 0) + 1
        try:
            yield
        finally:
            left = self._busy[loop] - 1
            if left:
                self._busy[loop] = left
            else:
                del self._busy[loop]
                if loop in self._pending:  # the waiting records need not wait for more
                    loop.call_soon(self._consider, loop)

    async def run(self, waits: Waits) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        batch = self._pending.get(loop)
        if batch is None:
            batch = self._pending[loop] = []
            self._since[loop] = loop.time()
            loop.call_soon(self._consider, loop)
        batch.append((waits, future))
        await future

    def _consider(self, loop: asyncio.AbstractEventLoop) -> None:
        """Flush now, or when the window of the oldest pending request closes."""
        if loop not in self._pending:
            return
        timer = self._timers.pop(loop, None)
        if timer is not None:
            timer.cancel()
        closes = self._since[loop] + GROUP_COMMIT_WINDOW
        if not self._busy.get(loop) or loop.time() >= closes:
            self._flush(loop)
        else:
            self._timers[loop] = loop.call_at(closes, self._consider, loop)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._pending.pop(loop)
        del self._since[loop]
        if not self._busy.get(loop) and (self.recent is None or self.recent < INLINE_WAIT_LIMIT):
            self.inline_flushes += 1
            self._settle(batch, self._timed(batch))
            return
        self.thread_flushes += 1

        def settle(done: asyncio.Future[list[BaseException | None]]) -> None:
            error = done.exception()
            self._settle(batch, done.result() if error is None else [error] * len(batch))

        loop.run_in_executor(None, self._timed, batch).add_done_callback(settle)

    def _timed(self, batch: list[tuple[Waits, asyncio.Future[None]]]) -> list[BaseException | None]:
        started = time.perf_counter()
        outcomes = _wait_each(batch)
        seconds = time.perf_counter() - started
        self.recent = seconds if self.recent is None else 0.8 * self.recent + 0.2 * seconds
        return outcomes

    @staticmethod
    def _settle(batch: list[tuple[Waits, asyncio.Future[None]]], outcomes: list[BaseException | None]) -> None:
        settle([(future, None, error) for (_, future), error in zip(batch, outcomes, strict=True)])


def json_type(value: Any) -> str:
    """What a parsed JSON value is, in JSON's words (``an object``, ``null``...)."""
    return _JSON_TYPES.get(type(value), type(value).__name__)


class ModelEndpoint:
    """One served model: validates input, predicts, serializes output."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.model = loaded.model
        self.qualified_name = loaded.qualified_name
        self.input_schema: type[BaseModel] = self.model.input_schema
        self.execution = loaded.config.execution
        self.recent: float | None = None  # moving average of predict() seconds (``auto``)
        self.scheduler: Scheduler = InlineScheduler()

    def runs_inline(self, batch: bool = False) -> bool:
        """Whether the next call predicts on the event loop (see ``ModelConfig.execution``)."""
        if self.execution != "auto":
            return self.execution == "inline"
        return not batch and self.recent is not None and self.recent < INLINE_LIMIT

    def observe(self, seconds: float) -> None:
        """Fold one call's duration into the moving average that ``auto`` decides by."""
        self.recent = seconds if self.recent is None else 0.8 * self.recent + 0.2 * seconds

    @cached_property
    def output_adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.model.output_schema)

    def parse(self, document: Any, prefix: tuple[int | str, ...] = ()) -> BaseModel:
        if not isinstance(document, dict):
            where = dotted(prefix) if prefix else "request body"
            raise SchemaValidationError(
                f"{where}: expected a JSON object for {self.input_schema.__name__}, "
                f"got {json_type(document)}",
                errors=[{"field": where, "message": "expected an object", "type": "model_type"}],
            )
        try:
            return self.input_schema.model_validate(document)
        except ValidationError as exc:
            errors = validation_errors(exc, prefix)
            summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
            raise SchemaValidationError(f"input does not match the model's schema: {summary}",
                                        errors=errors) from None

    def predict(self, data: BaseModel) -> Any:
        """The chain's prediction for one validated input, checked against the output schema."""
        try:
            return self.check_output(self.model.predict(data))
        except ModelwardError:
            raise
        except Exception as exc:
            if type(exc).__name__ == "MLModelSchemaValidationException":  # ml_base's client error
                raise SchemaValidationError(str(exc)) from exc
            logger.exception("model %s failed to predict", self.qualified_name)
            raise PredictionError(
                f"model '{self.qualified_name}' failed to predict ({type(exc).__name__}); "
                "the service log has the details"
            ) from exc

    def check_output(self, prediction: Any) -> Any:
        """A model's output, validated against its output schema (pydantic instances pass as they are)."""
        if isinstance(prediction, BaseModel):
            return prediction
        try:
            return self.output_adapter.validate_python(prediction)
        except ValidationError as exc:
            raise PredictionError(
                f"model '{self.qualified_name}' returned output that does not match its output schema: "
                f"{validation_errors(exc)}"
            ) from None

    def encode(self, output: Any) -> bytes:
        """One output as JSON bytes."""
        if isinstance(output, BaseModel):
            return output.model_dump_json().encode()
        return self.output_adapter.dump_json(output)


@dataclass
class ServiceStatus:
    """Startup progress of the service, for the health endpoints."""

    started: bool = False
    error: str | None = None
    loaded: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class DataPlane:
    """The models being served, and the one call per operation that every protocol makes.

    ``infer`` owns the walk of a request: find the model (by name, and version when given), parse
    every input into its schema, schedule the predictions (on the event loop, in a worker thread,
    or in a model's batch queue), run the decorator chain, and return Python values. ``feedback``
    records feedback durably, then hands it to every layer of the chain that wants it.
    """

    def __init__(self, max_batch: int = 10_000, *, threads: ThreadHandoff | None = None,
                 observer: RequestObserver | None = None, feedback_sink: FeedbackSink | None = None,
                 batch_observer: BatchObserver | None = None) -> None:
        self._endpoints: dict[str, ModelEndpoint] = {}
        self.status = ServiceStatus()
        self.max_batch = max_batch
        self.threads = threads or ThreadHandoff()
        self.durability = DurabilityWaits()
        self.observer = observer
        self.feedback_sink = feedback_sink
        self.batch_observer = batch_observer
        self.default_scheduler: Scheduler = DirectScheduler(self.threads)

    def add(self, loaded: LoadedModel) -> ModelEndpoint:
        endpoint = ModelEndpoint(loaded)
        batching = loaded.config.batching
        if batching is None:
            endpoint.scheduler = self.default_scheduler
        else:  # a queue of its own, shared by every protocol
            endpoint.scheduler = AdaptiveBatcher(batching, endpoint.qualified_name, observer=self.batch_observer)
        self._endpoints[endpoint.qualified_name] = endpoint
        with self.status.lock:
            self.status.loaded.append(endpoint.qualified_name)
        return endpoint

    def endpoints(self) -> list[ModelEndpoint]:
        return list(self._endpoints.values())

    def endpoint(self, qualified_name: str, version: str | None = None, *,
                 for_prediction: bool = False) -> ModelEndpoint:
        """The served model of that name (and version, when one is asked for)."""
        endpoint = self._endpoints.get(qualified_name)
        if endpoint is None or (for_prediction and not endpoint.loaded.config.create_endpoint):
            known = ", ".join(sorted(self._endpoints)) or "none loaded yet"
            raise ModelNotFound(f"no model named '{qualified_name}' is served (models: {known})")
        if version is not None and version != "" and version != str(endpoint.model.version):
            raise ModelNotFound(f"model '{qualified_name}' version '{version}' is not served "
                                f"(it serves version '{endpoint.model.version}')")
        return endpoint

    # --- the calls every protocol makes ------------------------------------------------------

    async def infer(self, request: InferenceRequest) -> InferenceResult:
        """Parse, schedule and predict one request; raises ``ModelwardError`` for what went wrong."""
        started = time.perf_counter()
        status = "error"
        version = request.version or ""
        rid = request_id.set(request.request_id) if request.request_id is not None else None
        meta: dict[str, Any] = {}
        meta_token = response_metadata.set(meta)
        try:
            endpoint = self.endpoint(request.model, request.version, for_prediction=True)
            version = str(endpoint.model.version)
            items = self.parse_inputs(endpoint, request.inputs, many=request.many)
            waits: Waits = []
            waits_token = durability_waits.set(waits)
            try:
                with self.durability.predicting():
                    outputs = await endpoint.scheduler.run(endpoint, items, request.many)
            finally:
                durability_waits.reset(waits_token)
                if waits:  # what layers made durable-pending (the payload journal's fsync), before answering
                    await self.durability.run(waits)
            status = "denied" if any(isinstance(o, PredictionNotAvailable) for o in outputs) else "ok"
            if self.observer is not None and "outlier" in meta:
                for score in outlier_scores(meta):
                    self.observer.observe_outlier(endpoint.qualified_name, score)
        except ModelwardError as exc:
            status = type(exc).__name__
            raise
        finally:
            response_metadata.reset(meta_token)
            if rid is not None:
                request_id.reset(rid)
            if self.observer is not None:
                self.observer.observe_request(request.model, version, request.protocol, status,
                                              time.perf_counter() - started)
        return InferenceResult(model=endpoint.qualified_name, version=version, outputs=outputs,
                               request_id=request.request_id, meta=meta)

    async def feedback(self, request: FeedbackRequest) -> FeedbackResult:
        """Record feedback durably, then hand it to every layer of the chain that wants it."""
        endpoint = self.endpoint(request.model, request.version, for_prediction=True)
        version = str(endpoint.model.version)
        result: FeedbackResult = await self.threads.run(self._feedback, endpoint, version, request)
        if self.observer is not None:
            route = result.route or request.routing.get("route")
            self.observer.observe_feedback(endpoint.qualified_name, "" if route is None else str(route),
                                           request.reward)
        return result

    def _feedback(self, endpoint: ModelEndpoint, version: str, request: FeedbackRequest) -> FeedbackResult:
        if self.feedback_sink is not None:
            self.feedback_sink.record(request, version)
        event = replace(request, model=endpoint.qualified_name, version=version)
        event, route = resolve_routing(endpoint.model, event)
        delivered: list[str] = []
        for layer in chain(endpoint.model):
            if receives_feedback(layer):
                try:
                    layer.receive_feedback(event)
                except ModelwardError:
                    raise
                except Exception as exc:
                    logger.exception("%r failed to take feedback", layer)
                    raise PredictionError(
                        f"model '{endpoint.qualified_name}': {type(layer).__name__} failed to take the "
                        f"feedback ({type(exc).__name__}); the service log has the details") from exc
                delivered.append(type(layer).__name__)
        return FeedbackResult(model=endpoint.qualified_name, version=version,
                              recorded=self.feedback_sink is not None, delivered_to=delivered, route=route)

    # --- parsing -------------------------------------------------------------------------------

    def parse_inputs(self, endpoint: ModelEndpoint, inputs: list[Any], *, many: bool) -> list[BaseModel]:
        """Validate every input; every bad item is reported, by index when the request had many."""
        if not many:
            if len(inputs) != 1:
                raise RequestError(f"expected one input, got {len(inputs)}")
            return [endpoint.parse(inputs[0])]
        if len(inputs) > self.max_batch:
            raise RequestError(f"batch of {len(inputs)} inputs is larger than the limit {self.max_batch}")
        items: list[BaseModel] = []
        errors: list[dict[str, Any]] = []
        for index, item in enumerate(inputs):
            try:
                items.append(endpoint.parse(item, (index,)))
            except SchemaValidationError as exc:
                errors.extend(exc.errors)
        if errors:
            summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:10])
            more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
            raise SchemaValidationError(f"input does not match the model's schema: {summary}{more}",
                                        errors=errors)  # the codecs clip what they show
        return items

    def parse_body(self, body: bytes, *, many: bool) -> list[Any]:
        """A JSON request body as the list of input documents ``infer`` takes."""
        document = loads_strict(body)
        if not many:
            return [document]
        if not isinstance(document, list):
            raise RequestError(f"expected a JSON list of inputs, got {json_type(document)}")
        return document

    def close(self) -> None:
        """Call ``close()`` on every layer of every model's chain that has one (flush logs, stop watchers)."""
        for endpoint in self.endpoints():
            endpoint.scheduler.close()
            for layer in chain(endpoint.model):
                closer = getattr(type(layer), "close", None)
                if callable(closer):
                    try:
                        closer(layer)
                    except Exception:
                        logger.exception("closing %r failed", layer)
        self.threads.shutdown()

    def batchers(self) -> list[AdaptiveBatcher]:
        """The batch queues of the models that batch."""
        return [e.scheduler for e in self.endpoints() if isinstance(e.scheduler, AdaptiveBatcher)]

    def metadata(self) -> list[dict[str, Any]]:
        return [endpoint_metadata(e) for e in self.endpoints()]


def chain(model: Any) -> Iterator[Any]:
    """The model and every object under it (decorators keep the wrapped model in ``_model``)."""
    layer = model
    while layer is not None:
        yield layer
        layer = getattr(layer, "__dict__", {}).get("_model")


def resolve_routing(model: Any, event: FeedbackRequest) -> tuple[FeedbackRequest, str]:
    """The feedback with the routes its graph resolved (by request id when it named none), and their label.

    A layer that routes (an ``InferenceGraph``) defines ``resolve_routing(feedback)`` and
    ``route_label(routing)``; the label is the ``route`` of the feedback metrics.
    """
    for layer in chain(model):
        resolve = getattr(type(layer), "resolve_routing", None)
        if callable(resolve):
            routing = resolve(layer, event)
            return replace(event, routing=routing), str(layer.route_label(routing))
    return event, ""


def endpoint_metadata(endpoint: ModelEndpoint) -> dict[str, Any]:
    """Metadata and JSON schemas of a model, as ``GET /api/models`` lists it."""
    model = endpoint.model
    return {
        "qualified_name": endpoint.qualified_name,
        "display_name": model.display_name,
        "description": model.description,
        "version": model.version,
        "decorators": repr(model),
        "endpoint": endpoint.loaded.config.create_endpoint,
        "input_schema": endpoint.input_schema.model_json_schema(),
        "output_schema": endpoint.output_adapter.json_schema(),
    }


def load_into(plane: DataPlane, build: Callable[[], list[LoadedModel]]) -> None:
    """Build the models and add them to ``plane``, recording success or the reason for failure."""
    try:
        for loaded in build():
            plane.add(loaded)
    except Exception as exc:
        with plane.status.lock:
            plane.status.error = str(exc)
        raise
    with plane.status.lock:
        plane.status.started = True
