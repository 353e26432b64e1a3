"""Run the service under uvicorn (one process, or several workers through a factory)."""

from __future__ import annotations

import os

import uvicorn
from fastapi import FastAPI

from modelward.services.config import configure_logging, load_config
from modelward.serving.app import config_path, create_app
from modelward.settings import Settings, load_settings


def app_factory() -> FastAPI:
    """Build the app from ``MODELWARD_*`` settings; uvicorn calls this in each worker."""
    return create_app(load_settings())


def serve(settings: Settings) -> None:
    """Validate the config, then serve until interrupted."""
    path = config_path(settings)
    config = load_config(path)  # fail fast on a bad file, before binding the port
    if settings.grpc_port is not None:  # and on a gRPC port that cannot be served
        from modelward.serving.v2.grpc_server import check_port

        check_port(settings.host, settings.grpc_port)
    common = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": settings.access_log,
        "lifespan": "on",
        "timeout_graceful_shutdown": 10,
    }
    if settings.workers == 1:
        uvicorn.run(create_app(settings, config, source=str(path)), **common)  # type: ignore[arg-type]
        return
    configure_logging(config, str(path))  # a bad logging section stops here, not in every worker
    os.environ["MODELWARD_CONFIG"] = str(path.resolve())
    if settings.grpc_port is not None:  # each worker serves gRPC too (SO_REUSEPORT), where the parent was told
        os.environ.update(MODELWARD_GRPC_PORT=str(settings.grpc_port), MODELWARD_HOST=settings.host)
    uvicorn.run("modelward.serving.server:app_factory", factory=True, workers=settings.workers,
                **common)  # type: ignore[arg-type]
