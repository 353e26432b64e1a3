"""The apps the serve commands run: the serving layer's apps with the governance console mounted.

``serving`` and ``web`` are sibling layers (neither imports the other), so they meet here: the
console is added to an app that serves the catalog, on the same ``CatalogFacade``, with the HTTP
statuses of ``serving.errors``.
"""

from __future__ import annotations

from fastapi import FastAPI

from modelward import web
from modelward.serving.app import create_app
from modelward.serving.catalog_routes import create_catalog_app
from modelward.serving.errors import status_for
from modelward.serving.server import worker_app
from modelward.settings import Settings


def with_console(app: FastAPI, settings: Settings, *, root_redirect: bool = False) -> FastAPI:
    """``app`` with the console at ``/console`` when it serves the catalog and ``web_console`` is on."""
    facade = getattr(app.state, "catalog_facade", None)
    if facade is not None and settings.web_console:
        web.mount(app, facade, settings, status_for, root_redirect=root_redirect)
    return app


def catalog_app(settings: Settings) -> FastAPI:
    """``modelward catalog serve``: the catalog API, ``/api/health`` and the console (``/`` goes to it)."""
    return with_console(create_catalog_app(settings), settings, root_redirect=True)


def service_app(settings: Settings, *args: object, **kwargs: object) -> FastAPI:
    """``modelward serve``: the models, and with ``--catalog`` the catalog API and the console."""
    return with_console(create_app(settings, *args, **kwargs), settings)  # type: ignore[arg-type]


def service_factory() -> FastAPI:
    """What uvicorn calls in each worker of ``modelward serve --workers N``."""
    return worker_app(service_app)
