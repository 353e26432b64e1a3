"""Per-request context that decorators may read (for example to log a decision with its request)."""

from __future__ import annotations

import contextvars

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
