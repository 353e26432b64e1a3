"""A bare ASGI app whose every request spins the CPU for 1.5 ms (``bench/loop_fairness.py``).

``SPIN_MODE`` says where the spin runs: ``inline`` (on the event loop, as soon as the request is
read), ``queue`` (as ``execution: auto`` does: at once when alone in its turn of the loop, else
queued and spun one per turn, first come first served) or ``thread`` (one worker thread, first come
first served).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

MODE = os.environ.get("SPIN_MODE", "inline")
SECONDS = 0.0015
_pool = ThreadPoolExecutor(1)
_queue: deque[asyncio.Future[None]] = deque()
_state = {"draining": False, "turn": False}


def spin() -> None:
    end = time.perf_counter() + SECONDS
    while time.perf_counter() < end:
        pass


def _spin_first() -> None:
    future = _queue.popleft()
    spin()
    future.set_result(None)
    if _queue:
        asyncio.get_running_loop().call_soon(_spin_first)
    else:
        _state["draining"] = False


def _next_turn() -> None:
    _state["turn"] = False


async def _queued() -> None:
    loop = asyncio.get_running_loop()
    if not _queue and not _state["turn"]:
        _state["turn"] = True
        loop.call_soon(_next_turn)
        spin()
        return
    future: asyncio.Future[None] = loop.create_future()
    _queue.append(future)
    if not _state["draining"]:
        _state["draining"] = True
        loop.call_soon(_spin_first)
    await future


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await receive()
    if MODE == "thread":
        await asyncio.get_running_loop().run_in_executor(_pool, spin)
    elif MODE == "queue":
        await _queued()
    else:
        spin()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})
