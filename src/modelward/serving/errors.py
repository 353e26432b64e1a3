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
    (e.EnrichmentKeyMissing, 422),
    (e.EnrichmentUnavailable, 503),
    (e.JournalFull, 503),
    (e.ModelNotFound, 404),
    (e.NotFound, 404),
    (e.Unauthorized, 401),
    (e.Forbidden, 403),
    (e.Conflict, 409),
    (e.ConfigurationError, 422),
    (e.PolicyDenied, 403),
    (e.PolicyUnavailable, 503),
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
