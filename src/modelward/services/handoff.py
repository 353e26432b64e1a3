"""``ThreadHandoff``: run blocking predictions in worker threads with few hand-overs.

The data plane's default ``execution: thread`` goes through here (see the class docstring for the
scheduling); ``execution: inline`` models never do.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class ThreadHandoff:
    """Runs functions in worker threads for event loops, with few hand-overs between threads.

    Every hand-over between the event loop and a thread is a switch of the GIL, and on a busy
    process each switch can wait for the interpreter's switch interval. So the calls made during
    one turn of a loop are queued as one batch, one worker thread drains the queue in order for as
    long as batches keep coming, and results go back in groups (at least every ``flush_after``
    seconds). A call that takes ``spread_after`` seconds or more while using less than a tenth of
    that in CPU time (it mostly waits, on I/O for instance) spreads the calls still queued over more
    threads, up to ``workers``, so such models run in parallel as in a plain thread pool; CPU-bound
    models run one at a time, first come first served (under the GIL, more threads would only take
    turns). Each call runs in its caller's context.
    """

    def __init__(self, workers: int = 40, *, flush_after: float = 0.0005, spread_after: float = 0.001,
                 name: str = "modelward-predict") -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._workers = workers
        self._flush_after = flush_after
        self._spread_after = spread_after
        self._pending: dict[asyncio.AbstractEventLoop, list[Call]] = {}
        self._queue: deque[tuple[asyncio.AbstractEventLoop, list[Call]]] = deque()
        self._lock = threading.Lock()
        self._drainers = 0

    def shutdown(self) -> None:
        """Stop accepting work; threads finish what they run and exit."""
        self._executor.shutdown(wait=False, cancel_futures=False)

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a worker thread, in the caller's context; its result or exception."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            loop.call_soon(self._enqueue, loop)
        pending.append((contextvars.copy_context(), fn, args, future))
        return await future

    def _enqueue(self, loop: asyncio.AbstractEventLoop) -> None:
        self._queue.append((loop, self._pending.pop(loop)))
        self._add_drainers(0)

    def _add_drainers(self, wanted: int) -> None:
        """Start a drainer if none runs, and up to ``wanted`` more while calls are queued."""
        with self._lock:
            count = max(wanted, 1 if self._drainers == 0 else 0)
            count = min(count, self._workers - self._drainers, len(self._queue))
            self._drainers += count
        for _ in range(count):
            self._executor.submit(self._drain)

    def _drain(self) -> None:
        done: dict[asyncio.AbstractEventLoop, list[_Done]] = {}
        last = time.perf_counter()
        while (item := self._next()) is not None:
            loop, batch = item
            for index, call in enumerate(batch):
                started, cpu = time.perf_counter(), time.thread_time()
                done.setdefault(loop, []).append(run_call(call))
                now = time.perf_counter()
                if now - last >= self._flush_after:
                    _post(done)
                    done, last = {}, now
                if now - started >= self._spread_after and time.thread_time() - cpu < (now - started) / 10:
                    self._spread(loop, batch[index + 1:])
                    break
        _post(done)

    def _spread(self, loop: asyncio.AbstractEventLoop, rest: list[Call]) -> None:
        self._queue.extendleft((loop, [call]) for call in reversed(rest))
        self._add_drainers(len(self._queue))

    def _next(self) -> tuple[asyncio.AbstractEventLoop, list[Call]] | None:
        while True:
            try:
                return self._queue.popleft()
            except IndexError:
                with self._lock:
                    if not self._queue:
                        self._drainers -= 1
                        return None


#: a call waiting to run: its caller's context, the function, its arguments, the future its caller awaits
Call = tuple[contextvars.Context, Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]"]


_Done = tuple["asyncio.Future[Any]", Any, BaseException | None]


def run_call(call: Call) -> _Done:
    """Run ``call`` in its caller's context; its outcome, for ``settle``."""
    context, fn, args, future = call
    try:
        return future, context.run(fn, *args), None
    except BaseException as exc:  # handed to the awaiting coroutine, which raises it
        return future, None, exc


def _post(done: dict[asyncio.AbstractEventLoop, list[_Done]]) -> None:
    for loop, outcomes in done.items():
        try:
            loop.call_soon_threadsafe(settle, outcomes)
        except RuntimeError:  # that loop was closed meanwhile: nobody awaits these results
            continue


def settle(done: list[_Done]) -> None:
    """Resolve each awaited future with its result or exception (a cancelled one is skipped)."""
    for future, result, error in done:
        if future.cancelled():
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
