"""``GET /metrics``: Prometheus metrics of the service (filled in with the metrics layer)."""

from __future__ import annotations

from fastapi import FastAPI

from modelward.services.dataplane import DataPlane
from modelward.settings import Settings


def mount(app: FastAPI, plane: DataPlane, settings: Settings) -> None:
    """Add the metrics route to ``app``."""
