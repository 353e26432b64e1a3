"""The one place where domain errors become HTTP answers (MLServer's pattern).

Every body is ``{"type": <error class>, "messages": [...]}``, the shape rest_model_service uses,
plus ``"errors"`` with field paths for schema failures. No stack trace ever reaches a client.
"""

from __future__ import annotations

import logging

import orjson
from starlette.responses import Response

from modelward import errors as e

logger = logging.getLogger(__name__)

# most specific first: the first class that matches decides
STATUS: tuple[tuple[type[e.ModelwardError], int], ...] = (
    (e.PayloadTooLarge, 413),
    (e.UnsupportedMediaType, 415),
    (e.RequestError, 400),
    (e.SchemaValidationError, 422),
    (e.ModelNotFound, 404),
    (e.NotFound, 404),
    (e.Unauthorized, 401),
    (e.Forbidden, 403),
    (e.Conflict, 409),
    (e.ConfigurationError, 422),
    (e.PolicyDenied, 403),
    (e.PolicyUnavailable, 503),
    (e.FeedbackUnavailable, 503),
    (e.StoreUnavailable, 503),
    (e.ValidationFailed, 422),
    (e.ArtifactError, 422),
    (e.CatalogError, 400),
)

JSON = "application/json"


def status_for(exc: e.ModelwardError) -> int:
    """The HTTP status of a domain error (500 for errors a client cannot cause)."""
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def error_response(exc: e.ModelwardError, status: int | None = None) -> Response:
    """A JSON error answer for a domain error."""
    code = status or status_for(exc)
    body: dict[str, object] = {"type": type(exc).__name__, "messages": [exc.message]}
    if isinstance(exc, e.SchemaValidationError) and exc.errors:
        body["errors"] = exc.errors
    headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
    if code >= 500:
        logger.error("%s: %s", type(exc).__name__, exc.message)
    return Response(orjson.dumps(body), status_code=code, media_type=JSON, headers=headers)


def plain_error(status: int, kind: str, message: str) -> Response:
    """A JSON error answer that has no domain error behind it."""
    return Response(orjson.dumps({"type": kind, "messages": [message]}), status_code=status, media_type=JSON)


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
