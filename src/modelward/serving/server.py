"""Run the service under uvicorn (one process, or several workers through a factory).

The port is bound first (a port in use is one error line, before any model loads); shutdown is
graceful as ``modelward.serving.shutdown`` describes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import uvicorn
from fastapi import FastAPI

from modelward.services.config import configure_logging, load_config
from modelward.serving import shutdown
from modelward.serving.app import config_path, create_app
from modelward.settings import Settings, load_settings


def worker_app(build: Callable[[Settings], FastAPI]) -> FastAPI:
    """In a worker of several: ``build`` the app from ``MODELWARD_*`` settings, its readiness turning
    503 on SIGTERM before uvicorn's own shutdown (a factory that skips this drains no requests)."""
    settings = load_settings()
    app = build(settings)
    shutdown.chain_signals(app.state.draining, settings.shutdown_delay)
    return app


def app_factory() -> FastAPI:
    """The service app; uvicorn calls this in each worker."""
    return worker_app(create_app)


def uvicorn_config(app: Any, settings: Settings, **extra: Any) -> uvicorn.Config:
    """uvicorn's configuration from the settings (timeouts, logging, graceful shutdown)."""
    return uvicorn.Config(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                          access_log=settings.access_log, lifespan="on",
                          timeout_keep_alive=settings.keep_alive,
                          timeout_graceful_shutdown=settings.shutdown_grace,  # type: ignore[arg-type]
                          **extra)


def serve(settings: Settings, *, build: Callable[..., FastAPI] = create_app,
          factory: str = "modelward.serving.server:app_factory") -> None:
    """Validate the config, bind the port, then serve until SIGTERM or SIGINT and drain.

    ``build`` (one process) or ``factory`` (each of several workers) makes the app.
    """
    path = config_path(settings)
    config = load_config(path)  # fail fast on a bad file, before binding the port
    if settings.grpc_port is not None:  # and on a gRPC port that cannot be served
        from modelward.serving.v2.grpc_server import check_port

        check_port(settings.host, settings.grpc_port)
    sock = shutdown.listen_socket(settings.host, settings.port)
    try:
        if settings.workers == 1:
            app = build(settings, config, source=str(path))
            shutdown.run(sock, uvicorn_config(app, settings), app.state.draining, settings.shutdown_delay)
            return
        configure_logging(config, str(path))  # a bad logging section stops here, not in every worker
        os.environ["MODELWARD_CONFIG"] = str(path.resolve())
        os.environ["MODELWARD_CATALOG_ENABLED"] = "true" if settings.catalog_enabled else "false"  # --catalog too
        if settings.grpc_port is not None:  # each worker serves gRPC too (SO_REUSEPORT), where the parent was told
            os.environ.update(MODELWARD_GRPC_PORT=str(settings.grpc_port), MODELWARD_HOST=settings.host)
        multi = uvicorn_config(factory, settings, factory=True,
                               workers=settings.workers)
        shutdown.log_listening(sock)
        with shutdown.exit_zero_on_sigterm():
            shutdown.DrainingMultiprocess(multi, sockets=[sock]).run()
    finally:
        sock.close()


def serve_catalog(settings: Settings, *, build: Callable[[Settings], FastAPI] | None = None) -> None:
    """``modelward catalog serve``: bind the port, then serve the catalog app (``build``) in one process."""
    from modelward.serving.catalog_routes import create_catalog_app

    sock = shutdown.listen_socket(settings.host, settings.port)
    try:
        app = (build or create_catalog_app)(settings)
        shutdown.run(sock, uvicorn_config(app, settings), app.state.draining, settings.shutdown_delay)
    finally:
        sock.close()
