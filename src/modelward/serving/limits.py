"""Request-body limits for every route: a size cap counted before parsing and a time limit.

``read_body`` reads a whole body from ASGI ``receive`` messages, refusing it with ``PayloadTooLarge``
as soon as the bytes counted pass the cap (a declared ``Content-Length`` over the cap is refused
before a byte is read; a chunked body without one is counted as it arrives) and with
``RequestTimeout`` when the whole body has not arrived within ``timeout`` seconds (a client that
sends 10 of 1,000 declared bytes and stalls). The prediction endpoints call it directly (they skip
the middleware stack); ``BodyLimit`` wraps every other route: it reads the body with the same
function before the app sees the request, then replays it, so nothing parses an oversized, partial
or stalled body. Both answer 413 or 408 with ``Connection: close``.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelward.errors import PayloadTooLarge, RequestError, RequestTimeout
from modelward.serving.errors import error_response


@dataclass(frozen=True)
class BodyLimits:
    """The largest body accepted (bytes) and the seconds it may take to arrive."""

    max_bytes: int
    timeout: float


class Disconnected(Exception):
    """The client went away before the request body arrived."""


def declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length`` (``RequestError`` when it is not a number)."""
    for key, value in scope["headers"]:
        if key == b"content-length":
            text = value.decode("latin-1").strip()
            if not text.isdigit():
                raise RequestError(f"Content-Length '{text[:40]}' is not a number")
            return int(text)
    return None


def check_declared(declared: int | None, limit: int) -> None:
    """Refuse a declared length over ``limit`` before any byte is read."""
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"request body of {declared} bytes is larger than the limit of {limit} bytes")


async def read_body(receive: Receive, limit: int, timeout: float | None) -> bytes:
    """The whole body, never more than ``limit`` bytes, within ``timeout`` seconds (None: no limit)."""
    task = asyncio.current_task()
    if timeout is None or task is None:
        return await _read(receive, limit)
    watchdog = _watchdog(task.get_loop())
    read = watchdog.start(task, timeout)
    try:
        return await _read(receive, limit)
    except asyncio.CancelledError:
        if read.expired and task.uncancel() == 0:
            raise RequestTimeout(f"the request body did not arrive within {timeout:g} seconds") from None
        raise
    finally:
        watchdog.reads.pop(task, None)


class _Read:
    __slots__ = ("deadline", "expired")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False


class _Watchdog:
    """One timer per event loop, not one per request: every ``TICK`` seconds it cancels the body
    reads that are past their deadline (a timer per request cost about 7 us per prediction)."""

    TICK = 0.25

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.reads: dict[asyncio.Task[Any], _Read] = {}
        self.armed = False

    def start(self, task: asyncio.Task[Any], timeout: float) -> _Read:
        read = self.reads[task] = _Read(self.loop.time() + timeout)
        if not self.armed:
            self.armed = True
            self.loop.call_later(self.TICK, self.check)
        return read

    def check(self) -> None:
        now = self.loop.time()
        for task, read in list(self.reads.items()):
            if read.deadline <= now and not read.expired:
                read.expired = True
                task.cancel()
        self.armed = bool(self.reads)
        if self.armed:
            self.loop.call_later(self.TICK, self.check)


_WATCHDOGS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watchdog] = weakref.WeakKeyDictionary()


def _watchdog(loop: asyncio.AbstractEventLoop) -> _Watchdog:
    found = _WATCHDOGS.get(loop)
    if found is None:
        found = _WATCHDOGS[loop] = _Watchdog(loop)
    return found


async def _read(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
        more = message.get("more_body", False)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class BodyLimit:
    """ASGI middleware: read and check the body with ``read_body`` before ``app`` sees the request."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limits = self.limits
        try:
            check_declared(declared_length(scope), limits.max_bytes)
            body = await read_body(receive, limits.max_bytes, limits.timeout)
        except Disconnected:
            return
        except RequestError as exc:
            await error_response(exc)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that returns ``body`` once, then waits on the real one (for the disconnect)."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
