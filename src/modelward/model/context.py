"""Per-request context that decorators may read (for example to log a decision with its request)."""

from __future__ import annotations

import contextvars

#: the id of the prediction request being served (``X-Request-ID`` or a generated one)
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("modelward_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being served, if any."""
    return request_id.get()
