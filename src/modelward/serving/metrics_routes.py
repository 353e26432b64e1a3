"""``GET /metrics``: Prometheus metrics of the service, from a registry that belongs to this app."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from modelward.metrics import BatchCollector, ChainCollector, create_registry, exposition
from modelward.services.dataplane import DataPlane
from modelward.settings import Settings


def mount(app: FastAPI, plane: DataPlane, settings: Settings) -> None:
    """Add the metrics route to ``app``; the registry is kept on ``app.state.metrics_registry``."""
    registry = create_registry()
    registry.register(ChainCollector(lambda: [endpoint.model for endpoint in plane.endpoints()]))
    registry.register(BatchCollector(lambda: [batcher.stats for batcher in plane.batchers()]))
    app.state.metrics_registry = registry

    async def metrics(_: Request) -> Response:
        body, content_type = exposition(registry)
        return Response(body, media_type=content_type)

    app.router.add_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
