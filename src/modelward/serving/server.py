"""Run the service under uvicorn (one process, or several workers through a factory)."""

from __future__ import annotations

import os
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from modelward.services.config import configure_logging, load_config
from modelward.serving.app import config_path, create_app
from modelward.settings import Settings, load_settings


def app_factory() -> FastAPI:
    """Build the app from ``MODELWARD_*`` settings; uvicorn calls this in each worker."""
    return create_app(load_settings())


def serve(settings: Settings, *, build: Callable[..., FastAPI] = create_app,
          factory: str = "modelward.serving.server:app_factory") -> None:
    """Validate the config, then serve until interrupted (``build``/``factory`` make the app)."""
    path = config_path(settings)
    config = load_config(path)  # fail fast on a bad file, before binding the port
    common = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": settings.access_log,
        "lifespan": "on",
        "timeout_graceful_shutdown": 10,
    }
    if settings.workers == 1:
        uvicorn.run(build(settings, config, source=str(path)), **common)  # type: ignore[arg-type]
        return
    configure_logging(config, str(path))  # a bad logging section stops here, not in every worker
    os.environ["MODELWARD_CONFIG"] = str(path.resolve())
    os.environ["MODELWARD_CATALOG_ENABLED"] = "true" if settings.catalog_enabled else "false"  # --catalog too
    uvicorn.run(factory, factory=True, workers=settings.workers,
                **common)  # type: ignore[arg-type]
