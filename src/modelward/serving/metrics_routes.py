"""``GET /metrics``: Prometheus metrics of the service, from a registry that belongs to this app.

The app's ``ServingMetrics`` (``app.state.serving_metrics``) lives on the same registry as the
decorator chains' counters; the data plane and the protocols call its ``observe_*`` methods.
``HttpMetrics`` is a small ASGI middleware that counts every request per route template (used by
``modelward catalog serve``; the model service keeps its direct prediction path free of middleware).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelward.metrics import BatchCollector, ChainCollector, ServingMetrics, create_registry, exposition
from modelward.services.dataplane import DataPlane
from modelward.settings import Settings


def mount(app: FastAPI, plane: DataPlane, settings: Settings) -> None:
    """Add the metrics route to ``app``; the registry is kept on ``app.state.metrics_registry``."""
    metrics = add_metrics_route(app, lambda: [endpoint.model for endpoint in plane.endpoints()])
    metrics.registry.register(BatchCollector(lambda: [batcher.stats for batcher in plane.batchers()]))
    plane.observer = metrics


def add_metrics_route(app: FastAPI, models: Callable[[], Iterable[Any]] | None = None) -> ServingMetrics:
    """A fresh registry with ``ServingMetrics`` (and the chains of ``models``), served at ``/metrics``."""
    registry = create_registry()
    if models is not None:
        registry.register(ChainCollector(models))
    metrics = ServingMetrics(registry)
    app.state.metrics_registry = registry
    app.state.serving_metrics = metrics

    async def scrape(_: Request) -> Response:
        body, content_type = exposition(registry)
        return Response(body, media_type=content_type)

    app.router.add_route("/metrics", scrape, methods=["GET"], include_in_schema=False)
    return metrics


def registry_of(app: FastAPI) -> CollectorRegistry:
    """The app's own registry."""
    registry: CollectorRegistry = app.state.metrics_registry
    return registry


class HttpMetrics:
    """ASGI middleware: every HTTP request counted and timed by route template, method and status."""

    def __init__(self, app: ASGIApp, metrics: ServingMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe_http(route, scope["method"], status, time.perf_counter() - started)
