"""The prediction path: raw ASGI endpoints for ``POST /api/models/{name}/prediction(s)``.

``PredictionEndpoint`` hands the body's bytes to the ``DataPlane`` and answers every error itself;
``ServiceApp`` calls it directly when Starlette's middleware stack and router would do nothing.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from modelward.errors import ModelwardError, PayloadTooLarge, RequestError, UnsupportedMediaType
from modelward.model import PredictionNotAvailable
from modelward.model.context import request_id
from modelward.services.dataplane import DataPlane
from modelward.services.inference import InferenceRequest
from modelward.serving import health
from modelward.serving.errors import error_response, plain_error
from modelward.serving.limits import BodyLimit, BodyLimits, Disconnected, read_body

logger = logging.getLogger(__name__)


class ServiceApp(FastAPI):
    """The service's FastAPI app, with a direct path for prediction requests.

    A ``POST /api/models/{qualified_name}/prediction(s)`` goes straight to its endpoint, skipping
    Starlette's middleware stack and route table (about half of the framework's cost of a small
    prediction), while nothing would happen there: no middleware was added, no ``root_path`` is set
    and FastAPI's OpenTelemetry instrumentation is off. The endpoint is the same ASGI app that the
    router calls otherwise, and it answers every error itself, so both paths answer alike. Every
    other request passes ``BodyLimit`` first when ``body_limits`` is set (the endpoint applies the
    same limits itself).
    """

    body_limits: BodyLimits | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prediction_endpoints: dict[str, PredictionEndpoint] = {}
        #: ``POST /v2/models/{name}[/versions/{version}]/infer`` (set by ``modelward.serving.v2``)
        self.v2_infer: ASGIApp | None = None
        self._modelward_otel = False
        self._modelward_otel_checked_at = -1e9

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self._direct(scope)
        if endpoint is None:
            await super().__call__(scope, receive, send)
        else:
            await endpoint(scope, receive, send)

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return stack if self.body_limits is None else BodyLimit(stack, self.body_limits)

    def _direct(self, scope: Scope) -> ASGIApp | None:
        if scope["type"] != "http" or scope["method"] != "POST" or self.user_middleware or self.root_path:
            return None
        path: str = scope["path"]
        if path.startswith(_V2_PREFIX):
            return self._direct_v2(scope, path)
        if not path.startswith(_MODELS_PREFIX):
            return None
        name, slash, action = path[len(_MODELS_PREFIX):].partition("/")
        endpoint = self.prediction_endpoints.get(action) if name and slash else None
        if endpoint is None or scope.get("root_path") or self._telemetry_on():
            return None
        scope["path_params"] = {"qualified_name": name}
        return endpoint

    def _direct_v2(self, scope: Scope, path: str) -> ASGIApp | None:
        if self.v2_infer is None or not path.endswith("/infer") or scope.get("root_path") or self._telemetry_on():
            return None
        parts = path[len(_V2_PREFIX):-len("/infer")].split("/")
        if len(parts) == 1 and parts[0]:
            scope["path_params"] = {"name": parts[0]}
        elif len(parts) == 3 and parts[0] and parts[1] == "versions" and parts[2]:
            scope["path_params"] = {"name": parts[0], "version": parts[2]}
        else:
            return None
        return self.v2_infer

    def _telemetry_on(self) -> bool:
        """Whether FastAPI's OpenTelemetry instrumentation is on (looked up at most once a second)."""
        now = time.monotonic()
        if now >= self._modelward_otel_checked_at + 1.0:
            telemetry = getattr(self, "_native_telemetry", None)  # newer FastAPI instruments requests
            self._modelward_otel = telemetry is not None and bool(telemetry.enabled())
            self._modelward_otel_checked_at = now
        return self._modelward_otel


_MODELS_PREFIX = "/api/models/"
_V2_PREFIX = "/v2/models/"
#: the answer's metadata (route taken by a graph, scores), as JSON, when the chain added any
META_HEADER = b"x-modelward-meta"
_WANTED_HEADERS = frozenset({b"content-type", b"content-length", b"content-encoding", b"x-request-id"})


class PredictionEndpoint:
    """``POST /api/models/{qualified_name}/prediction`` (or ``predictions``) as a raw ASGI app.

    The native protocol's codec: the body is one input document (or a list of them), handed to
    ``DataPlane.infer``; the outputs are written back as JSON, a policy denial with its status.
    """

    def __init__(self, plane: DataPlane, limit: int, *, batch: bool, timeout: float | None = None) -> None:
        self.plane = plane
        self.limit = limit
        self.timeout = timeout
        self.batch = batch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _request_headers(scope)
        rid = headers.get(b"x-request-id") or new_request_id()
        token = request_id.set(rid)
        answer: tuple[bytes, int, dict[str, Any]] | Response
        try:
            answer = await self._answer(scope, receive, headers, rid)
        except Disconnected:
            return
        except ModelwardError as exc:
            answer = error_response(exc)
        except Exception:
            answer = internal_error()
        finally:
            request_id.reset(token)
        if isinstance(answer, Response):
            answer.headers["x-request-id"] = rid
            await answer(scope, receive, send)
            return
        body, status, meta = answer
        response_headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)),
                            (b"x-request-id", rid.encode("latin-1"))]
        if meta:
            response_headers.append((META_HEADER, orjson.dumps(meta, default=str)))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Scope, receive: Receive, headers: dict[bytes, str],
                      rid: str) -> tuple[bytes, int, dict[str, Any]] | Response:
        plane = self.plane
        if not plane.status.started:
            return plain_error(503, "ServiceUnavailable", health.startup_reason(plane))
        name = scope["path_params"]["qualified_name"]
        endpoint = plane.endpoint(name, for_prediction=True)
        body = await receive_body(receive, headers, self.limit, self.timeout)
        inputs = plane.parse_body(body, many=self.batch)
        result = await plane.infer(InferenceRequest(model=name, inputs=inputs, many=self.batch,
                                                    protocol="native", request_id=rid))
        if self.batch:
            return b"[" + b",".join(endpoint.encode(o) for o in result.outputs) + b"]", 200, result.meta
        (output,) = result.outputs
        status = output.status_code if isinstance(output, PredictionNotAvailable) else 200
        return endpoint.encode(output), status, result.meta


def new_request_id() -> str:
    """A random (version 4) UUID as 32 hex digits, without building a ``uuid.UUID``."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return raw.hex()


def _request_headers(scope: Scope) -> dict[bytes, str]:
    found: dict[bytes, str] = {}
    for key, value in scope["headers"]:
        if key in _WANTED_HEADERS and key not in found:
            found[key] = value.decode("latin-1")
    return found


def internal_error() -> Response:
    """Log the exception being handled; answer 500 without any of its details."""
    logger.exception("unexpected error")
    return plain_error(500, "InternalError", "the service failed unexpectedly; see the service log")


def check_content(content_type: str, declared: str | None, limit: int, encoding: str | None = None) -> None:
    """Refuse non-JSON content types and content codings (415) and a declared length over ``limit`` (413)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        shown = media_type or "none"
        raise UnsupportedMediaType(f"Content-Type must be application/json, got {shown}")
    if encoding is not None and encoding.strip().lower() not in ("", "identity"):
        raise UnsupportedMediaType(f"Content-Encoding '{encoding}' is not supported; send the body uncompressed")
    if declared is not None:
        if not declared.isdigit():
            raise RequestError(f"Content-Length '{declared}' is not a number")
        if int(declared) > limit:
            raise PayloadTooLarge(f"request body of {declared} bytes is larger than the limit of {limit} bytes")


async def receive_body(receive: Receive, headers: dict[bytes, str], limit: int,
                       timeout: float | None = None) -> bytes:
    """The request body, checked as ``check_content`` says, never over ``limit``, within ``timeout`` s."""
    check_content(headers.get(b"content-type", ""), headers.get(b"content-length"), limit,
                  headers.get(b"content-encoding"))
    return await read_body(receive, limit, timeout)
