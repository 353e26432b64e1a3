"""The Open Inference Protocol (V2): REST routes on the app, and a gRPC server beside it.

``mount(app, plane, settings)`` adds the REST routes and keeps the shared ``OpenInference`` on
``app.state.open_inference``; the gRPC server (``modelward.serving.v2.grpc_server``) uses the same one.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

from modelward.services.dataplane import DataPlane
from modelward.services.statistics import InferenceStatistics
from modelward.serving.v2 import rest
from modelward.serving.v2.core import OpenInference
from modelward.settings import Settings

__all__ = ["OpenInference", "grpc_serving", "mount"]


def mount(app: FastAPI, plane: DataPlane, settings: Settings) -> OpenInference:
    """Add the V2 REST routes to ``app``; return the operations the gRPC server shares."""
    v2 = OpenInference(plane, InferenceStatistics())
    rest.add_routes(app, v2, settings.max_body_bytes, settings.body_timeout)
    app.state.open_inference = v2
    return v2


def grpc_serving(v2: OpenInference, settings: Settings) -> AbstractAsyncContextManager[int | None]:
    """Serve V2 over gRPC on ``settings.host:settings.grpc_port`` while open (a no-op when no port is set)."""
    from modelward.serving.v2.grpc_server import serving

    return serving(v2, settings.host, settings.grpc_port, settings.max_body_bytes)
