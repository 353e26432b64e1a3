"""The ASGI app: ``create_app(settings)`` builds it from a service config file.

Prediction routes are plain Starlette endpoints that hand bytes to the ``DataPlane`` (no per-request
dependency injection on the hot path); their OpenAPI contract is generated from the models'
schemas by ``modelward.serving.openapi``.
"""

from __future__ import annotations

import logging
import logging.config
import os
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from modelward.errors import ConfigurationError, ModelwardError, PayloadTooLarge, RequestError, UnsupportedMediaType
from modelward.model.context import request_id
from modelward.services.config import ServiceConfig, dotted, load_config
from modelward.services.dataplane import DataPlane, ModelEndpoint, load_into
from modelward.services.jsonbody import loads_strict
from modelward.services.loader import build_models
from modelward.serving import health, metrics_routes
from modelward.serving.errors import JSON, error_response, plain_error
from modelward.serving.openapi import build_openapi
from modelward.settings import Settings

logger = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]


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

    app = FastAPI(
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
        logger.exception("unexpected error", exc_info=exc)
        return plain_error(500, "InternalError", "the service failed unexpectedly; see the service log")

    app.add_exception_handler(ModelwardError, domain)
    app.add_exception_handler(HTTPException, http)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, unexpected)


def _add_routes(app: FastAPI, plane: DataPlane, settings: Settings) -> None:
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
    single = _prediction_route(plane, settings, batch=False)
    many = _prediction_route(plane, settings, batch=True)
    app.router.add_route("/api/models/{qualified_name}/prediction", single, methods=["POST"],
                         include_in_schema=False)
    app.router.add_route("/api/models/{qualified_name}/predictions", many, methods=["POST"],
                         include_in_schema=False)
    health.add_routes(app, plane)


def _prediction_route(plane: DataPlane, settings: Settings, *, batch: bool) -> Endpoint:
    limit = settings.max_body_bytes

    async def predict(request: Request) -> Response:
        if not plane.status.started:
            return plain_error(503, "ServiceUnavailable", health.startup_reason(plane))
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        token = request_id.set(rid)
        try:
            endpoint = plane.endpoint(request.path_params["qualified_name"], for_prediction=True)
            body = await read_body(request, limit)
            if batch:
                _, items = plane.prepare_batch(endpoint.qualified_name, body)
                answer = await _run(endpoint, plane.run_many, items)
            else:
                data = endpoint.parse(loads_strict(body))
                answer = await _run(endpoint, plane.run_one, data)
        except ModelwardError as exc:
            response = error_response(exc)
            response.headers["x-request-id"] = rid
            return response
        finally:
            request_id.reset(token)
        return Response(answer.body, status_code=answer.status_code, media_type=JSON,
                        headers={"x-request-id": rid})

    return predict


async def _run(endpoint: ModelEndpoint, fn: Callable[[ModelEndpoint, Any], Any], arg: Any) -> Any:
    if endpoint.inline:
        return fn(endpoint, arg)
    return await run_in_threadpool(fn, endpoint, arg)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing non-JSON content types (415) and bodies over ``limit`` (413)."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        shown = media_type or "none"
        raise UnsupportedMediaType(f"Content-Type must be application/json, got {shown}")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestError(f"Content-Length '{declared}' is not a number")
        if int(declared) > limit:
            raise PayloadTooLarge(f"request body of {declared} bytes is larger than the limit of {limit} bytes")
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
