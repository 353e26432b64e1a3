"""ThreadHandoff: worker threads for blocking predictions, in order for CPU work, spread for waits."""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import threading
import time
from collections.abc import Iterator

import pytest

from modelward.services.handoff import ThreadHandoff

marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")


@pytest.fixture
def handoff() -> Iterator[ThreadHandoff]:
    threads = ThreadHandoff(workers=8)
    yield threads
    threads.shutdown()


def test_runs_in_a_worker_thread_with_the_callers_context(handoff: ThreadHandoff) -> None:
    async def call() -> tuple[str, str]:
        marker.set("request-7")
        return await handoff.run(lambda: (threading.current_thread().name, marker.get()))

    name, seen = asyncio.run(call())
    assert name.startswith("modelward-predict")
    assert seen == "request-7"


def test_exceptions_reach_the_awaiting_coroutine(handoff: ThreadHandoff) -> None:
    def boom() -> None:
        raise ValueError("from the worker")

    async def call() -> None:
        await handoff.run(boom)

    with pytest.raises(ValueError, match="from the worker"):
        asyncio.run(call())


def busy(milliseconds: float) -> None:
    end = time.thread_time() + milliseconds / 1000
    while time.thread_time() < end:
        pass


def test_cpu_bound_calls_run_one_at_a_time_first_come_first_served(handoff: ThreadHandoff) -> None:
    spans: list[tuple[int, float, float]] = []

    def work(index: int) -> int:
        start = time.perf_counter()
        busy(3)
        spans.append((index, start, time.perf_counter()))
        return index

    async def many() -> list[int]:
        return list(await asyncio.gather(*(handoff.run(work, i) for i in range(10))))

    assert asyncio.run(many()) == list(range(10))
    assert [index for index, _, _ in spans] == list(range(10))
    for (_, _, end), (_, start, _) in itertools.pairwise(spans):
        assert start >= end  # no overlap: one thread drained the batch


def test_calls_that_wait_are_spread_over_threads(handoff: ThreadHandoff) -> None:
    def wait() -> str:
        time.sleep(0.1)
        return threading.current_thread().name

    async def many() -> list[str]:
        return list(await asyncio.gather(*(handoff.run(wait) for _ in range(8))))

    started = time.perf_counter()
    names = asyncio.run(many())
    elapsed = time.perf_counter() - started
    assert len(set(names)) > 1
    assert elapsed < 0.6  # one after another would take 0.8 s


def test_results_arrive_from_several_event_loops(handoff: ThreadHandoff) -> None:
    results: list[int] = []

    def in_loop(value: int) -> None:
        results.append(asyncio.run(handoff.run(lambda: value * 2)))

    threads = [threading.Thread(target=in_loop, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(results) == [0, 2, 4, 6]
