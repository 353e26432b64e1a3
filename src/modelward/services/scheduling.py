"""Where a model's predictions run: on the event loop, in a worker thread, or in a batch queue.

A ``Scheduler`` takes a request's validated inputs and returns their outputs in order; every
``ModelEndpoint`` has one. ``DirectScheduler`` follows the model's ``execution`` setting;
a batching scheduler (``max_batch_size``) plugs in through the same two methods.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from modelward.services.handoff import ThreadHandoff

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

    On the event loop only while no other prediction is waiting: under concurrency the thread
    hand-off serves requests first come first served, which keeps the tail latency low.
    """

    def __init__(self, threads: ThreadHandoff) -> None:
        self.threads = threads
        self.waiting = 0  # predictions handed to threads and not answered yet (event-loop state only)

    async def run(self, endpoint: ModelEndpoint, items: list[BaseModel], many: bool) -> list[Any]:
        if self.waiting == 0 and endpoint.runs_inline(many):
            return predict_all(endpoint, items)
        self.waiting += 1
        try:
            outputs: list[Any] = await self.threads.run(predict_all, endpoint, items)
        finally:
            self.waiting -= 1
        return outputs

    def close(self) -> None:
        return None
