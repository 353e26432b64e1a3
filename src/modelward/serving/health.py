"""Health endpoints, compatible with rest_model_service's bodies, plus the reason when not ready.

- ``/api/health``: the process is alive (503 only when the models failed to load); ``problems``
  lists what decorators report (for example a policy bundle that failed to reload).
- ``/api/health/ready`` and ``/api/health/startup``: 503 with the reason until every model is loaded.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from modelward.services.dataplane import DataPlane
from modelward.serving.errors import JSON


def startup_reason(plane: DataPlane) -> str:
    """Why the service is not started yet."""
    status = plane.status
    if status.error is not None:
        return f"models failed to load: {status.error}"
    return f"models are still loading ({len(status.loaded)} loaded so far)"


def problems(plane: DataPlane) -> list[str]:
    """Problems reported by any object in any model's decorator chain (``health_problems()``)."""
    found: list[str] = []
    for endpoint in plane.endpoints():
        layer: Any = endpoint.model
        while layer is not None:
            report = getattr(type(layer), "health_problems", None)
            if callable(report):
                found.extend(f"{endpoint.qualified_name}: {p}" for p in report(layer))
            layer = getattr(layer, "__dict__", {}).get("_model")
    return found


def _answer(body: dict[str, Any], ok: bool) -> Response:
    return Response(orjson.dumps(body), status_code=200 if ok else 503, media_type=JSON)


def add_routes(app: FastAPI, plane: DataPlane) -> None:
    async def health(_: Request) -> Response:
        failed = plane.status.error is not None
        body: dict[str, Any] = {"health_status": "NOT_HEALTHY" if failed else "HEALTHY"}
        if failed:
            body["reason"] = startup_reason(plane)
        found = problems(plane)
        if found:
            body["problems"] = found
        return _answer(body, not failed)

    async def ready(_: Request) -> Response:
        started = plane.status.started
        body: dict[str, Any] = {"readiness_status": "ACCEPTING_TRAFFIC" if started else "REFUSING_TRAFFIC"}
        if not started:
            body["reason"] = startup_reason(plane)
        return _answer(body, started)

    async def startup(_: Request) -> Response:
        started = plane.status.started
        body: dict[str, Any] = {"startup_status": "STARTED" if started else "NOT_STARTED"}
        if not started:
            body["reason"] = startup_reason(plane)
        return _answer(body, started)

    for path, endpoint in (("/api/health", health), ("/api/health/ready", ready),
                           ("/api/health/startup", startup)):
        app.router.add_route(path, endpoint, methods=["GET"], include_in_schema=False)
