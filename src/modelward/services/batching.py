"""``AdaptiveBatcher``: requests from every protocol share one bounded queue per model, and the
model's ``predict_batch`` gets many inputs at once.

A worker thread takes the queued requests, up to ``max_batch_size`` inputs, and calls the chain's
``predict_batch`` once. It waits for more inputs (at most ``max_batch_latency`` after the oldest one
arrived) only while the model is busy, that is while its previous batch was larger than what is
queued now: an idle model predicts a lone request at once, so one connection is served as fast as
without batching. Each caller gets exactly its own outputs:

- every input runs its per-request parts (policy checks, decision-log lines, ``annotate``) in the
  context of its own request (``modelward.model.as_request``), captured when it was queued, so
  request ids and response metadata stay per request;
- when ``predict_batch`` raises, that batch is predicted again one request at a time, so only the
  request whose input breaks the model fails; an output that does not match the output schema fails
  only its own request;
- a full queue refuses new requests with ``ServiceOverloaded`` (503 with ``Retry-After``), so
  memory stays bounded; ``close()`` answers every queued request before the worker exits.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from modelward.errors import ModelwardError, RequestError, ServiceOverloaded
from modelward.metrics.batching import BatchStats
from modelward.model import predict_many
from modelward.model.context import batch_contexts
from modelward.services.config import BatchingConfig
from modelward.services.scheduling import predict_all

if TYPE_CHECKING:
    from modelward.services.dataplane import ModelEndpoint

logger = logging.getLogger(__name__)


class BatchObserver(Protocol):
    """What a batcher reports (``modelward.metrics.ServingMetrics`` implements it)."""

    def observe_batch(self, model: str, size: int, wait_seconds: float) -> None:
        """One batch of ``size`` inputs given to the model after its oldest input waited ``wait_seconds``."""

    def set_queue_depth(self, model: str, n: int) -> None:
        """Inputs waiting in the model's queue right now."""


@dataclass(eq=False)
class _Queued:
    """One request waiting in the queue."""

    items: list[BaseModel]
    context: contextvars.Context
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[list[Any]]
    arrived: float


#: a request's outcome: its outputs, or the error to raise to its caller
_Outcome = tuple[_Queued, list[Any] | None, BaseException | None]


class AdaptiveBatcher:
    """A ``Scheduler`` that batches one model's predictions (see the module docstring)."""

    def __init__(self, config: BatchingConfig, model: str, *, observer: BatchObserver | None = None,
                 drain_timeout: float = 60.0) -> None:
        self.config = config
        self.model = model
        self.stats = BatchStats(model)
        self.observer = observer
        self.drain_timeout = drain_timeout
        self._queue: deque[_Queued] = deque()
        self._queued = 0  # inputs in the queue
        self._cond = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._last_size = 0  # inputs of the previous batch: how many to wait for while busy
        self._batch_seconds = 0.0  # moving average of one batch's predict time (for Retry-After)

    # --- the Scheduler protocol ---------------------------------------------------------------

    async def run(self, endpoint: ModelEndpoint, items: list[BaseModel], many: bool) -> list[Any]:
        """Queue the request's inputs and wait for exactly their outputs."""
        loop = asyncio.get_running_loop()
        queued = _Queued(items, contextvars.copy_context(), loop, loop.create_future(), time.perf_counter())
        with self._cond:
            self._admit(len(items))
            self._queue.append(queued)
            self._queued += len(items)
            self._report_depth(self._queued)  # under the lock, so the last report is the true depth
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, args=(endpoint,), daemon=True,
                                                name=f"modelward-batch:{self.model}")
                self._thread.start()
            self._cond.notify()
        return await queued.future

    def close(self) -> None:
        """Stop taking requests; the worker answers every queued one, then exits."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(self.drain_timeout)
        with self._cond:
            left, self._queue = list(self._queue), deque()
            self._queued = 0
            self._report_depth(0)
        if left:
            error = ServiceOverloaded(f"model '{self.model}' stopped before it could predict", retry_after=1)
            self._settle([(queued, None, error) for queued in left])

    # --- admission ------------------------------------------------------------------------------

    def _admit(self, count: int) -> None:
        """Refuse a request that would overfill the queue (called with the lock held)."""
        limit = self.config.max_queue
        if count > limit:
            raise RequestError(f"{count} inputs in one request are more than model '{self.model}' can queue "
                               f"({limit}, batching.max_queue)")
        if self._closing:
            raise ServiceOverloaded(f"model '{self.model}' is shutting down", retry_after=1)
        if self._queued + count > limit:
            self.stats.observe_rejected()
            raise ServiceOverloaded(
                f"model '{self.model}' is overloaded: {self._queued} inputs are queued (the limit is "
                f"{limit}); retry later", retry_after=self._retry_after())

    def _retry_after(self) -> int:
        """Whole seconds until the queue has drained, at the recent speed (at least 1)."""
        batches = math.ceil(self._queued / self.config.max_batch_size)
        return max(1, math.ceil(batches * self._batch_seconds))

    # --- the worker -----------------------------------------------------------------------------

    def _work(self, endpoint: ModelEndpoint) -> None:
        while (taken := self._take()) is not None:
            try:
                self._settle(self._predict(endpoint, taken))
            except BaseException as exc:  # never leave a caller waiting
                logger.exception("batch worker of %s failed", self.model)
                self._settle([(queued, None, exc) for queued in taken])

    def _take(self) -> list[_Queued] | None:
        """The next batch: wait for a request, and while busy for more (up to the latency limit)."""
        size_limit = self.config.max_batch_size
        with self._cond:
            while not self._queue:
                if self._closing:
                    return None
                self._cond.wait()
            expected = min(self._last_size, size_limit)
            deadline = self._queue[0].arrived + self.config.max_batch_latency / 1000
            while self._queued < expected and not self._closing:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            taken: list[_Queued] = []
            size = 0
            while self._queue and (not taken or size + len(self._queue[0].items) <= size_limit):
                queued = self._queue.popleft()
                taken.append(queued)
                size += len(queued.items)
            self._queued -= size
            self._report_depth(self._queued)
        self._last_size = size
        return taken

    def _predict(self, endpoint: ModelEndpoint, taken: list[_Queued]) -> list[_Outcome]:
        items = [item for queued in taken for item in queued.items]
        started = time.perf_counter()
        self.stats.observe_batch(self.model, len(items), started - taken[0].arrived)
        if self.observer is not None:
            self.observer.observe_batch(self.model, len(items), started - taken[0].arrived)
        outputs = self._predict_batch(endpoint, taken, items)
        seconds = time.perf_counter() - started
        self._batch_seconds = seconds if self._batch_seconds == 0 else 0.8 * self._batch_seconds + 0.2 * seconds
        if outputs is None:
            return [_alone(endpoint, queued) for queued in taken]
        outcomes: list[_Outcome] = []
        offset = 0
        for queued in taken:
            mine = outputs[offset:offset + len(queued.items)]
            offset += len(queued.items)
            outcomes.append(_checked(endpoint, queued, mine))
        return outcomes

    def _predict_batch(self, endpoint: ModelEndpoint, taken: list[_Queued],
                       items: list[BaseModel]) -> list[Any] | None:
        """The chain's ``predict_batch`` over all the inputs, or ``None`` when it raised."""
        token = batch_contexts.set({id(item): queued.context for queued in taken for item in queued.items})
        try:
            limit = self.config.max_batch_size  # a single request may be larger: predicted in slices
            outputs: list[Any] = []
            for start in range(0, len(items), limit):
                outputs.extend(predict_many(endpoint.model, items[start:start + limit]))
            return outputs
        except Exception as exc:
            if len(taken) > 1:
                logger.warning("model %s: a batch of %d requests failed (%s: %s); predicting them one by one",
                               self.model, len(taken), type(exc).__name__, exc)
            return None
        finally:
            batch_contexts.reset(token)

    def _report_depth(self, depth: int) -> None:
        self.stats.set_queue_depth(self.model, depth)
        if self.observer is not None:
            self.observer.set_queue_depth(self.model, depth)

    @staticmethod
    def _settle(outcomes: list[_Outcome]) -> None:
        """Hand each outcome to its caller's event loop (one call per loop)."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for outcome in outcomes:
            by_loop.setdefault(outcome[0].loop, []).append(outcome)
        for loop, group in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, group)
            except RuntimeError:  # that loop is closed: nobody awaits these any more
                continue


def _alone(endpoint: ModelEndpoint, queued: _Queued) -> _Outcome:
    """One request predicted on its own, in its own context (after its batch failed)."""
    try:
        return queued, queued.context.run(predict_all, endpoint, queued.items), None
    except Exception as exc:
        return queued, None, exc


def _checked(endpoint: ModelEndpoint, queued: _Queued, outputs: list[Any]) -> _Outcome:
    """A request's outputs validated against the output schema; a bad one fails only this request."""
    try:
        return queued, [endpoint.check_output(output) for output in outputs], None
    except ModelwardError as exc:
        return queued, None, exc


def _resolve(outcomes: list[_Outcome]) -> None:
    for queued, outputs, error in outcomes:
        if queued.future.done():  # the caller went away (cancelled)
            continue
        if error is None:
            queued.future.set_result(outputs or [])
        else:
            queued.future.set_exception(error)
