"""The ASGI app: ``create_app(settings)`` builds it from a service config file.

Prediction routes are raw ASGI endpoints (``PredictionEndpoint``) that hand bytes to the
``DataPlane`` (no per-request dependency injection on the hot path), and ``ServiceApp`` calls them
directly when the middleware stack has nothing to do; their OpenAPI contract is generated from the
models' schemas by ``modelward.serving.openapi``.
"""

from __future__ import annotations

import logging
import os
import threading
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

from modelward.errors import ConfigurationError, ModelwardError
from modelward.services.config import ServiceConfig, configure_logging, dotted, load_config
from modelward.services.dataplane import DataPlane, endpoint_metadata, load_into
from modelward.services.feedback import JournalFeedbackSink
from modelward.services.loader import build_models
from modelward.serving import health, kserve_v1, metrics_routes, mlflow, seldon, v2
from modelward.serving.errors import JSON, error_response, plain_error, validation_error
from modelward.serving.feedback import feedback_route
from modelward.serving.limits import BodyLimits
from modelward.serving.openapi import build_openapi
from modelward.serving.predict import PredictionEndpoint, ServiceApp, internal_error
from modelward.serving.shutdown import Draining
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
    configure_logging(service, source)
    plane = DataPlane(feedback_sink=JournalFeedbackSink(settings.resolved_feedback_log()))
    loader = _loader(plane, service, source, settings.data_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not wait_for_models:
            threading.Thread(target=loader, name="modelward-model-loader", daemon=True).start()
        async with v2.grpc_serving(app.state.open_inference, settings):
            yield
        plane.close()

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
    app.state.draining = Draining()
    app.body_limits = BodyLimits(settings.max_body_bytes, settings.body_timeout)
    _add_error_handlers(app)
    _add_routes(app, plane, settings)
    _mount_catalog(app, settings)
    metrics_routes.mount(app, plane, settings)
    v2.mount(app, plane, settings)
    app.openapi = lambda: _openapi(app, plane, service)  # type: ignore[method-assign]
    if wait_for_models:
        loader()
    return app


def _loader(plane: DataPlane, service: ServiceConfig, source: str | None, data_dir: Path) -> Callable[[], None]:
    def load() -> None:
        try:
            load_into(plane, lambda: build_models(service, source, data_dir=data_dir))
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
        return validation_error((dotted(err["loc"]), str(err["msg"])) for err in exc.errors())

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
        return _json(endpoint_metadata(endpoint))

    app.router.add_route("/", root, methods=["GET"], include_in_schema=False)
    app.router.add_route("/api/models", models, methods=["GET"], include_in_schema=False)
    app.router.add_route("/api/models/{qualified_name}/metadata", metadata, methods=["GET"],
                         include_in_schema=False)
    for action, batch in (("prediction", False), ("predictions", True)):
        endpoint = PredictionEndpoint(plane, settings.max_body_bytes, batch=batch, timeout=settings.body_timeout)
        app.prediction_endpoints[action] = endpoint
        app.router.routes.append(Route(f"/api/models/{{qualified_name}}/{action}", endpoint, methods=["POST"],
                                       include_in_schema=False))
    app.router.add_route("/api/models/{qualified_name}/feedback", feedback_route(plane, settings.max_body_bytes),
                         methods=["POST"], include_in_schema=False)
    health.add_routes(app, plane)
    seldon.add_routes(app, plane, settings.max_body_bytes)
    kserve_v1.add_routes(app, plane, settings.max_body_bytes)
    mlflow.add_routes(app, plane, settings.max_body_bytes)


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
