"""The catalog REST API under ``/api/catalog/`` (filled in by the catalog issue)."""

from __future__ import annotations

from fastapi import FastAPI

from modelward.settings import Settings


def mount(app: FastAPI, settings: Settings) -> None:
    """Add the catalog routes to ``app``."""
