"""Per-request context that decorators may read (for example to log a decision with its request)."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")

#: the id of the prediction request being served (``X-Request-ID`` or a generated one)
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("modelward_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being served, if any."""
    return request_id.get()


#: metadata of the answer being built: decorators and graph nodes add to it (route taken, scores)
response_metadata: contextvars.ContextVar[dict[str, object] | None] = contextvars.ContextVar(
    "modelward_response_metadata", default=None)


def annotate(key: str, value: object) -> None:
    """Add ``key: value`` to the metadata of the answer being built (ignored outside a request)."""
    meta = response_metadata.get()
    if meta is not None:
        meta[key] = value


#: during a batched prediction: the context of the request each input came from, by ``id(input)``
batch_contexts: contextvars.ContextVar[Mapping[int, contextvars.Context] | None] = contextvars.ContextVar(
    "modelward_batch_contexts", default=None)


def as_request(item: object, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in the context of the request ``item`` came from (its request id, its metadata).

    In a batched prediction every input keeps its own request's context: a decorator that logs or
    decides per request (the policy decorator) calls its per-item work through this. Outside a batch
    it simply calls ``fn``.
    """
    contexts = batch_contexts.get()
    context = contexts.get(id(item)) if contexts is not None else None
    return fn(*args) if context is None else context.run(fn, *args)


#: while a service answers a request: waits it runs (off the event loop) before it sends the answer
durability_waits: contextvars.ContextVar[list[Callable[[], None]] | None] = contextvars.ContextVar(
    "modelward_durability_waits", default=None)


def defer_until_answer(wait: Callable[[], None]) -> bool:
    """Have the service call ``wait`` before it answers this request; ``False`` when no service will.

    A layer whose promise is "done before the answer" but whose waiting is slow (the payload log's
    fsync) appends the record, registers the wait here and returns at once: the service runs every
    registered wait in a worker thread before it answers, so the event loop meanwhile predicts other
    requests, and one fsync covers all of their records (group commit). Outside a request served by
    ``DataPlane.infer`` (a batch thread, a direct call) nothing will call it: the caller waits itself.
    """
    waits = durability_waits.get()
    if waits is None:
        return False
    waits.append(wait)
    return True
