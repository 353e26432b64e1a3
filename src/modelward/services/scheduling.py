"""Where a model's predictions run: on the event loop, in a worker thread, or in a batch queue.

A ``Scheduler`` takes a request's validated inputs and returns their outputs in order; every
``ModelEndpoint`` has one. ``DirectScheduler`` follows the model's ``execution`` setting;
a batching scheduler (``max_batch_size``) plugs in through the same two methods.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from modelward.services.handoff import Call, ThreadHandoff, run_call, settle

if TYPE_CHECKING:
    from modelward.services.dataplane import ModelEndpoint


class Scheduler(Protocol):
    """Runs a request's predictions somewhere and returns their outputs, in order."""

    async def run(self, endpoint: ModelEndpoint, items: list[BaseModel], many: bool) -> list[Any]:
        """The outputs of ``endpoint.predict`` for every item; raises the first error."""

    def close(self) -> None:
        """Stop taking work (queued work is finished first)."""


def predict_all(endpoint: ModelEndpoint, items: list[BaseModel]) -> list[Any]:
    """Predict every item in this thread; a single prediction's time feeds ``execution: auto``."""
    if len(items) != 1:
        return [endpoint.predict(item) for item in items]
    started = time.perf_counter()
    output = endpoint.predict(items[0])
    endpoint.observe(time.perf_counter() - started)
    return [output]


class InlineScheduler:
    """Predicts on the caller's thread (for endpoints used outside a running service)."""

    async def run(self, endpoint: ModelEndpoint, items: list[BaseModel], many: bool) -> list[Any]:
        return predict_all(endpoint, items)

    def close(self) -> None:
        return None


class DirectScheduler:
    """Predicts on the event loop or in a worker thread, as the model's ``execution`` says.

    ``auto`` keeps requests first come first served under concurrency. A request alone in its turn
    of the loop predicts at once, on the loop. Requests that arrive together (two or more in one
    turn) queue, and the queue is predicted on the loop one request per turn, so that the loop reads
    its sockets between two predictions and a request queues when it arrives. Predicted one after
    the other in the turn they arrived in, requests are not answered in arrival order: with uvloop,
    uvicorn's loop, some connections wait several turns (at 32 connections, a p99 of 5x the median:
    ``bench/loop_fairness.py``). A model whose predictions take 10 ms or more goes to a worker
    thread, so that health probes keep answering.
    """

    def __init__(self, threads: ThreadHandoff) -> None:
        self.threads = threads
        self.waiting = 0  # predictions handed to threads and not answered yet (event-loop state only)
        self.turn_task: asyncio.Task[Any] | None = None  # the request that predicted on the loop in this turn
        self.queue: deque[Call] = deque()  # ``auto`` predictions waiting for their turn of the loop

    async def run(self, endpoint: ModelEndpoint, items: list[BaseModel], many: bool) -> list[Any]:
        if self.waiting == 0 and endpoint.runs_inline(many):
            if endpoint.execution != "auto" or (not self.queue and self._first_of_turn()):
                return predict_all(endpoint, items)
            return await self._in_turn(endpoint, items)
        self.waiting += 1
        try:
            outputs: list[Any] = await self.threads.run(predict_all, endpoint, items)
        finally:
            self.waiting -= 1
        return outputs

    def _first_of_turn(self) -> bool:
        """Whether no other request predicted on the loop yet in this turn of it.

        A caller that awaits several predictions in a row (each answered without yielding the loop)
        is still alone."""
        task = asyncio.current_task()
        if self.turn_task is not None:
            return self.turn_task is task
        self.turn_task = task
        asyncio.get_running_loop().call_soon(self._next_turn)
        return True

    def _next_turn(self) -> None:
        self.turn_task = None

    async def _in_turn(self, endpoint: ModelEndpoint, items: list[BaseModel]) -> list[Any]:
        """Queue the prediction; the loop predicts the queue's first in each of its turns."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        self.queue.append((contextvars.copy_context(), predict_all, (endpoint, items), future))
        if len(self.queue) == 1:  # else a turn's prediction is already scheduled
            loop.call_soon(self._predict_first)
        return await future

    def _predict_first(self) -> None:
        call = self.queue.popleft()
        try:
            if not call[3].cancelled():  # else its client went away while it waited
                settle([run_call(call)])  # an error is raised by the awaiting request, as if it predicted
        finally:
            if self.queue:
                asyncio.get_running_loop().call_soon(self._predict_first)

    def close(self) -> None:
        return None
