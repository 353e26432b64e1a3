"""Health endpoints, compatible with rest_model_service's bodies, plus the reason when not ready.

- ``/api/health``: the process is alive (503 only when the models failed to load); ``problems``
  lists what decorators report (for example a policy bundle that failed to reload).
- ``/api/health/ready`` and ``/api/health/startup``: 503 with the reason until every model is loaded;
  readiness is 503 again once the server drains for shutdown (``app.state.draining``).

Anonymous clients get generic reasons: file paths and exception text stay in the service log and
are shown to operators, requests with a catalog bearer token allowed to deploy (when the catalog is
served by the same app).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelward.errors import ModelwardError
from modelward.services.dataplane import DataPlane
from modelward.serving.errors import JSON
from modelward.serving.shutdown import Draining

logger = logging.getLogger(__name__)

LOAD_FAILED = "models failed to load; see the service log"


def startup_reason(plane: DataPlane) -> str:
    """Why the service is not started yet, in words safe for anyone (no paths, no exception text)."""
    status = plane.status
    if status.error is not None:
        return LOAD_FAILED
    return f"models are still loading ({len(status.loaded)} loaded so far)"


def startup_detail(plane: DataPlane) -> str:
    """Why the service is not started yet, with the load error itself (for operators and the log)."""
    status = plane.status
    if status.error is not None:
        return f"models failed to load: {status.error}"
    return startup_reason(plane)


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


def anonymous_problems(found: list[str]) -> list[str]:
    """One generic line per model that reports problems (the details may name files)."""
    names = dict.fromkeys(p.partition(": ")[0] for p in found)
    return [f"{name}: a decorator reports a problem; see the service log" for name in names]


async def is_operator(request: Request) -> bool:
    """Whether the request carries a catalog bearer token allowed to deploy (never raises)."""
    catalog = getattr(request.app.state, "catalog", None)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if catalog is None or scheme.lower() != "bearer" or not token.strip():
        return False
    from modelward import catalog as c

    def check() -> bool:
        try:
            return c.allowed(c.authenticate(catalog, token=token.strip()).role, c.Action.DEPLOY)
        except ModelwardError as exc:
            logger.info("health detail refused: %s", exc.message)
            return False

    return await run_in_threadpool(check)


def _answer(body: dict[str, Any], ok: bool) -> Response:
    return Response(orjson.dumps(body), status_code=200 if ok else 503, media_type=JSON)


def _draining(app: FastAPI) -> Draining | None:
    found = getattr(app.state, "draining", None)
    return found if isinstance(found, Draining) else None


def add_routes(app: FastAPI, plane: DataPlane) -> None:
    async def reason(request: Request) -> str:
        return startup_detail(plane) if await is_operator(request) else startup_reason(plane)

    async def health(request: Request) -> Response:
        failed = plane.status.error is not None
        body: dict[str, Any] = {"health_status": "NOT_HEALTHY" if failed else "HEALTHY"}
        if failed:
            body["reason"] = await reason(request)
        found = problems(plane)
        if found:
            body["problems"] = found if await is_operator(request) else anonymous_problems(found)
        return _answer(body, not failed)

    async def ready(request: Request) -> Response:
        started = plane.status.started
        draining = _draining(app)
        accepting = started and not (draining is not None and draining.active)
        body: dict[str, Any] = {"readiness_status": "ACCEPTING_TRAFFIC" if accepting else "REFUSING_TRAFFIC"}
        if not started:
            body["reason"] = await reason(request)
        elif not accepting:
            body["reason"] = "the service is shutting down"
        return _answer(body, accepting)

    async def startup(request: Request) -> Response:
        started = plane.status.started
        body: dict[str, Any] = {"startup_status": "STARTED" if started else "NOT_STARTED"}
        if not started:
            body["reason"] = await reason(request)
        return _answer(body, started)

    for path, endpoint in (("/api/health", health), ("/api/health/ready", ready),
                           ("/api/health/startup", startup)):
        app.router.add_route(path, endpoint, methods=["GET"], include_in_schema=False)
