"""The ASGI app: ``create_app(settings)`` builds it from a service config file.

Prediction routes are raw ASGI endpoints (``PredictionEndpoint``) that hand bytes to the
``DataPlane`` (no per-request dependency injection on the hot path), and ``ServiceApp`` calls them
directly when the middleware stack has nothing to do; their OpenAPI contract is generated from the
models' schemas by ``modelward.serving.openapi``.
"""

from __future__ import annotations

import logging
import logging.config
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from modelward.errors import ConfigurationError, ModelwardError, PayloadTooLarge, RequestError, UnsupportedMediaType
from modelward.model.context import request_id
from modelward.services.config import ServiceConfig, dotted, load_config
from modelward.services.dataplane import Answer, DataPlane, ModelEndpoint, ThreadHandoff, load_into
from modelward.services.jsonbody import loads_strict
from modelward.services.loader import build_models
from modelward.serving import health, metrics_routes
from modelward.serving.errors import JSON, error_response, plain_error
from modelward.serving.openapi import build_openapi
from modelward.settings import Settings

logger = logging.getLogger(__name__)


def config_path(settings: Settings) -> Path:
    """The service config: ``MODELWARD_CONFIG``, else ``REST_CONFIG``, else ``rest_config.yaml``."""
    if settings.config is not None:
        return settings.config
    return Path(os.environ.get("REST_CONFIG", "rest_config.yaml"))


def create_app(
    settings: Settings,
    config: ServiceConfig | None = None,
    *,
    wait_for_models: bool = False,
    source: str | None = None,
) -> FastAPI:
    """Build the service. Models load in a background thread at startup unless ``wait_for_models``.

    ``source`` names the config file in load errors; it defaults to the file read from ``settings``.
    """
    if config is None:
        source = str(config_path(settings))
        config = load_config(source)
    service = config
    if service.logging is not None:
        logging.config.dictConfig(service.logging)
    plane = DataPlane()
    loader = _loader(plane, service, source)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not wait_for_models:
            threading.Thread(target=loader, name="modelward-model-loader", daemon=True).start()
        yield

    app = ServiceApp(
        title=service.service_title,
        description=service.description,
        version=service.version,
        lifespan=lifespan,
        redirect_slashes=False,
    )
    app.state.plane = plane
    app.state.settings = settings
    app.state.service_config = service
    _add_error_handlers(app)
    _add_routes(app, plane, settings)
    _mount_catalog(app, settings)
    metrics_routes.mount(app, plane, settings)
    app.openapi = lambda: _openapi(app, plane, service)  # type: ignore[method-assign]
    if wait_for_models:
        loader()
    return app


def _loader(plane: DataPlane, service: ServiceConfig, source: str | None) -> Callable[[], None]:
    def load() -> None:
        try:
            load_into(plane, lambda: build_models(service, source))
        except ModelwardError as exc:
            logger.error("models failed to load: %s", exc.message)
        except Exception:
            logger.exception("models failed to load")

    return load


def _openapi(app: FastAPI, plane: DataPlane, service: ServiceConfig) -> dict[str, Any]:
    if app.openapi_schema is None or not plane.status.started:
        document = build_openapi(app, plane.endpoints(), service)
        if not plane.status.started:
            return document
        app.openapi_schema = document
    return app.openapi_schema


def _add_error_handlers(app: FastAPI) -> None:
    async def domain(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ModelwardError)
        return error_response(exc)

    async def http(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return plain_error(exc.status_code, "HTTPError", str(exc.detail))

    async def invalid(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = [f"{dotted(err['loc'])}: {err['msg']}" for err in exc.errors()]
        return plain_error(422, "ValidationError", "; ".join(problems) or "invalid request")

    async def unexpected(_: Request, exc: Exception) -> Response:
        return internal_error()

    app.add_exception_handler(ModelwardError, domain)
    app.add_exception_handler(HTTPException, http)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, unexpected)


def _add_routes(app: ServiceApp, plane: DataPlane, settings: Settings) -> None:
    async def root(_: Request) -> Response:
        return RedirectResponse(url="/docs")

    async def models(_: Request) -> Response:
        return _json({"models": plane.metadata()})

    async def metadata(request: Request) -> Response:
        try:
            endpoint = plane.endpoint(request.path_params["qualified_name"])
        except ModelwardError as exc:
            return error_response(exc)
        return _json(health.metadata_of(endpoint))

    app.router.add_route("/", root, methods=["GET"], include_in_schema=False)
    app.router.add_route("/api/models", models, methods=["GET"], include_in_schema=False)
    app.router.add_route("/api/models/{qualified_name}/metadata", metadata, methods=["GET"],
                         include_in_schema=False)
    threads = ThreadHandoff()
    for action, batch in (("prediction", False), ("predictions", True)):
        endpoint = PredictionEndpoint(plane, settings.max_body_bytes, threads, batch=batch)
        app.prediction_endpoints[action] = endpoint
        app.router.routes.append(Route(f"/api/models/{{qualified_name}}/{action}", endpoint, methods=["POST"],
                                       include_in_schema=False))
    health.add_routes(app, plane)


class ServiceApp(FastAPI):
    """The service's FastAPI app, with a direct path for prediction requests.

    A ``POST /api/models/{qualified_name}/prediction(s)`` goes straight to its endpoint, skipping
    Starlette's middleware stack and route table (about half of the framework's cost of a small
    prediction), while nothing would happen there: no middleware was added, no ``root_path`` is set
    and FastAPI's OpenTelemetry instrumentation is off. The endpoint is the same ASGI app that the
    router calls otherwise, and it answers every error itself, so both paths answer alike.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prediction_endpoints: dict[str, PredictionEndpoint] = {}
        self._modelward_otel = False
        self._modelward_otel_checked_at = -1e9

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self._direct(scope)
        if endpoint is None:
            await super().__call__(scope, receive, send)
        else:
            await endpoint(scope, receive, send)

    def _direct(self, scope: Scope) -> PredictionEndpoint | None:
        if scope["type"] != "http" or scope["method"] != "POST" or self.user_middleware or self.root_path:
            return None
        path: str = scope["path"]
        if not path.startswith(_MODELS_PREFIX):
            return None
        name, slash, action = path[len(_MODELS_PREFIX):].partition("/")
        endpoint = self.prediction_endpoints.get(action) if name and slash else None
        if endpoint is None or scope.get("root_path") or self._telemetry_on():
            return None
        scope["path_params"] = {"qualified_name": name}
        return endpoint

    def _telemetry_on(self) -> bool:
        """Whether FastAPI's OpenTelemetry instrumentation is on (looked up at most once a second)."""
        now = time.monotonic()
        if now >= self._modelward_otel_checked_at + 1.0:
            telemetry = getattr(self, "_native_telemetry", None)  # newer FastAPI instruments requests
            self._modelward_otel = telemetry is not None and bool(telemetry.enabled())
            self._modelward_otel_checked_at = now
        return self._modelward_otel


_MODELS_PREFIX = "/api/models/"
_WANTED_HEADERS = frozenset({b"content-type", b"content-length", b"x-request-id"})


class _Disconnected(Exception):
    """The client went away before the request body arrived."""


class PredictionEndpoint:
    """``POST /api/models/{qualified_name}/prediction`` (or ``predictions``) as a raw ASGI app.

    ``execution: inline`` models predict on the event loop; the others in worker threads of
    ``threads``, with the request's context (its request id) copied along.
    """

    def __init__(self, plane: DataPlane, limit: int, threads: ThreadHandoff, *, batch: bool) -> None:
        self.plane = plane
        self.limit = limit
        self.threads = threads
        self.batch = batch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _request_headers(scope)
        rid = headers.get(b"x-request-id") or new_request_id()
        token = request_id.set(rid)
        answer: Answer | Response
        try:
            answer = await self._answer(scope, receive, headers)
        except _Disconnected:
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
        await send({"type": "http.response.start", "status": answer.status_code, "headers": [
            (b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer.body)),
            (b"x-request-id", rid.encode("latin-1"))]})
        await send({"type": "http.response.body", "body": answer.body})

    async def _answer(self, scope: Scope, receive: Receive, headers: dict[bytes, str]) -> Answer | Response:
        plane = self.plane
        if not plane.status.started:
            return plain_error(503, "ServiceUnavailable", health.startup_reason(plane))
        endpoint = plane.endpoint(scope["path_params"]["qualified_name"], for_prediction=True)
        body = await receive_body(receive, headers, self.limit)
        if self.batch:
            _, items = plane.prepare_batch(endpoint.qualified_name, body)
            return await self._run(endpoint, DataPlane.run_many, items)
        return await self._run(endpoint, DataPlane.run_one, endpoint.parse(loads_strict(body)))

    async def _run(self, endpoint: ModelEndpoint, fn: Callable[[ModelEndpoint, Any], Answer], arg: Any) -> Answer:
        if endpoint.inline:
            return fn(endpoint, arg)
        answer: Answer = await self.threads.run(fn, endpoint, arg)
        return answer


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


def check_content(content_type: str, declared: str | None, limit: int) -> None:
    """Refuse non-JSON content types (415) and a declared length over ``limit`` (413)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        shown = media_type or "none"
        raise UnsupportedMediaType(f"Content-Type must be application/json, got {shown}")
    if declared is not None:
        if not declared.isdigit():
            raise RequestError(f"Content-Length '{declared}' is not a number")
        if int(declared) > limit:
            raise PayloadTooLarge(f"request body of {declared} bytes is larger than the limit of {limit} bytes")


async def receive_body(receive: Receive, headers: dict[bytes, str], limit: int) -> bytes:
    """The request body from ASGI messages, checked as ``check_content`` says and never over ``limit``."""
    check_content(headers.get(b"content-type", ""), headers.get(b"content-length"), limit)
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
        more = message.get("more_body", False)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing non-JSON content types (415) and bodies over ``limit`` (413)."""
    check_content(request.headers.get("content-type", ""), request.headers.get("content-length"), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _json(document: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(document), status_code=status, media_type=JSON)


def _mount_catalog(app: FastAPI, settings: Settings) -> None:
    if not settings.catalog_enabled:
        return
    try:
        from modelward.serving import catalog_routes
    except ImportError as exc:  # pragma: no cover - the catalog ships with modelward
        raise ConfigurationError(f"catalog_enabled is set but the catalog API is unavailable: {exc}") from exc
    catalog_routes.mount(app, settings)
