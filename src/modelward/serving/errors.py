"""The one place where domain errors become HTTP answers (MLServer's pattern).

Every body is ``{"type": <error class>, "messages": [...]}``, the shape rest_model_service uses,
plus ``"errors"`` with field paths for schema failures. No stack trace ever reaches a client, and no
answer echoes more than a few KiB of the request: a message is cut to ``MAX_MESSAGE`` characters, a
listed value to ``MAX_VALUE``, and at most ``MAX_ERRORS`` errors are listed, then how many more there were.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from starlette.responses import Response

from modelward import errors as e

logger = logging.getLogger(__name__)

# most specific first: the first class that matches decides
STATUS: tuple[tuple[type[e.ModelwardError], int], ...] = (
    (e.PayloadTooLarge, 413),
    (e.RequestTimeout, 408),
    (e.UnsupportedMediaType, 415),
    (e.RequestError, 400),
    (e.SchemaValidationError, 422),
    (e.EnrichmentKeyMissing, 422),
    (e.EnrichmentUnavailable, 503),
    (e.JournalFull, 503),
    (e.PayloadLogUnavailable, 503),
    (e.ModelNotFound, 404),
    (e.NotFound, 404),
    (e.Unauthorized, 401),
    (e.Forbidden, 403),
    (e.Conflict, 409),
    (e.ConfigurationError, 422),
    (e.PolicyDenied, 403),
    (e.PolicyUnavailable, 503),
    (e.FeedbackUnavailable, 503),
    (e.ServiceOverloaded, 503),
    (e.GraphStateUnavailable, 503),
    (e.StoreUnavailable, 503),
    (e.ValidationFailed, 422),
    (e.ArtifactError, 422),
    (e.CatalogError, 400),
)

JSON = "application/json"
MAX_MESSAGE = 2000  # characters of one message
MAX_VALUE = 150  # characters of one listed value (a field path, a problem)
MAX_ERRORS = 10  # errors listed in one answer
_CLOSE = frozenset({408, 413})  # the rest of the body was not read: the connection cannot be reused


def status_for(exc: e.ModelwardError) -> int:
    """The HTTP status of a domain error (500 for errors a client cannot cause)."""
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def error_response(exc: e.ModelwardError, status: int | None = None) -> Response:
    """A JSON error answer for a domain error."""
    code = status or status_for(exc)
    body: dict[str, object] = {"type": type(exc).__name__, "messages": [clip(exc.message)]}
    if isinstance(exc, e.SchemaValidationError) and exc.errors:
        body["errors"] = clip_errors(exc.errors)
    headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
    if code in _CLOSE:
        headers = {"Connection": "close"}
    if isinstance(exc, e.ServiceOverloaded):
        headers = {"Retry-After": str(max(1, exc.retry_after))}
    if code >= 500 and not isinstance(exc, e.ServiceOverloaded):  # overload is counted, not logged per request
        logger.error("%s: %s", type(exc).__name__, clip(exc.message, 4 * MAX_MESSAGE))
    return Response(orjson.dumps(body), status_code=code, media_type=JSON, headers=headers)


def plain_error(status: int, kind: str, message: str) -> Response:
    """A JSON error answer that has no domain error behind it."""
    return Response(orjson.dumps({"type": kind, "messages": [clip(message)]}), status_code=status,
                    media_type=JSON, headers={"Connection": "close"} if status in _CLOSE else None)


def clip(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` cut to ``limit`` characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def clip_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """At most ``MAX_ERRORS`` errors with clipped values, then one entry counting the rest."""
    shown = [{str(k)[:50]: _clip_value(v) for k, v in list(err.items())[:10]} for err in errors[:MAX_ERRORS]]
    if len(errors) > MAX_ERRORS:
        shown.append({"field": "", "message": f"... and {len(errors) - MAX_ERRORS} more errors",
                      "type": "truncated"})
    return shown


def _clip_value(value: Any) -> Any:
    if isinstance(value, str):
        return clip(value, MAX_VALUE)
    if value is None or isinstance(value, bool | int | float):
        return value
    return clip(repr(value), MAX_VALUE)


def validation_error(problems: Iterable[tuple[str, str]]) -> Response:
    """422 for request validation failures, as ``field: problem`` lines, clipped like every answer."""
    listed: list[str] = []
    size = more = 0
    for field, problem in problems:
        if len(listed) < MAX_ERRORS and size < MAX_MESSAGE - 2 * MAX_VALUE - 100:
            listed.append(f"{clip(field, MAX_VALUE)}: {clip(problem, MAX_VALUE)}")
            size += len(listed[-1]) + 2
        else:
            more += 1
    if more:
        listed.append(f"... and {more} more errors")
    return plain_error(422, "ValidationError", "; ".join(listed) or "invalid request")


def v2_status(exc: e.ModelwardError) -> int:
    """The status of a domain error in the Open Inference Protocol: a denial keeps its decorator's 4xx."""
    status = exc.details.get("status")
    if isinstance(exc, e.PolicyDenied) and isinstance(status, int) and 400 <= status < 500:
        return status
    return status_for(exc)


def v2_error_response(exc: e.ModelwardError) -> Response:
    """An Open Inference Protocol error answer: ``{"error": "..."}`` (plus a denial's ``messages``)."""
    code = v2_status(exc)
    body: dict[str, object] = {"error": exc.message}
    if isinstance(exc, e.PolicyDenied) and "messages" in exc.details:
        body["messages"] = exc.details["messages"]
    if code >= 500:
        logger.error("%s: %s", type(exc).__name__, exc.message)
    return Response(orjson.dumps(body), status_code=code, media_type=JSON)


#: the gRPC status code name of each HTTP status the table above produces (grpc.StatusCode members)
GRPC_CODES: dict[int, str] = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    409: "ALREADY_EXISTS", 413: "RESOURCE_EXHAUSTED", 415: "INVALID_ARGUMENT", 422: "INVALID_ARGUMENT",
    503: "UNAVAILABLE",
}


def grpc_code(exc: e.ModelwardError) -> str:
    """The gRPC status code name of a domain error (INTERNAL for errors a client cannot cause)."""
    if isinstance(exc, e.PolicyDenied):
        return "PERMISSION_DENIED"
    status = status_for(exc)
    return GRPC_CODES.get(status, "FAILED_PRECONDITION" if status < 500 else "INTERNAL")
