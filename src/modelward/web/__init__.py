"""The governance console: server-rendered pages over ``services.catalog_facade`` (issue 15).

``mount(app, facade, settings, status_for)`` adds the pages under ``/console`` to an ASGI app that
serves the catalog (``modelward catalog serve``, and ``modelward serve --catalog``). Templates are
Jinja2 with autoescape; the little JavaScript and CSS ship as package data (no build step).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles

from modelward.services.catalog_facade import CatalogFacade
from modelward.settings import Settings
from modelward.web import pages
from modelward.web.app import PREFIX, Console, StatusFor
from modelward.web.render import STATIC

__all__ = ["PREFIX", "Console", "console_mount", "mount"]


def console_mount(console: Console) -> Mount:
    """Every console route, under the console's prefix."""
    get, post = console.get, console.post
    routes = [
        Route("/", get(pages.home), methods=["GET"]),
        Route("/models/{name}", get(pages.model), methods=["GET"]),
        Route("/models/{name}/versions/{version}", get(pages.version), methods=["GET"]),
        Route("/models/{name}/versions/{version}/promote", post(pages.promote), methods=["POST"]),
        Route("/lineage/{name}/{version}", get(pages.lineage), methods=["GET"]),
        Route("/deployments", get(pages.deployments), methods=["GET"]),
        Route("/deployments/{ident}", get(pages.deployment), methods=["GET"]),
        Route("/deployments/{ident}/health", get(pages.deployment_health), methods=["GET"]),
        Route("/deployments/{ident}/rollback", post(pages.rollback), methods=["POST"]),
        Route("/attempts", get(pages.attempts), methods=["GET"]),
        Route("/audit", get(pages.audit), methods=["GET"]),
        Route("/audit/verify", get(pages.audit_verify), methods=["GET"]),
        Route("/tokens", get(pages.tokens), methods=["GET"]),
        Route("/tokens/{ident}/revoke", post(pages.revoke), methods=["POST"]),
        Route("/login", get(pages.login_form), methods=["GET"]),
        Route("/login", post(pages.login), methods=["POST"]),
        Route("/logout", post(pages.logout), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/{rest:path}", get(pages.not_found), methods=["GET", "POST"]),
    ]
    return Mount(console.links.prefix, app=Router(routes=routes))


def mount(app: Starlette, facade: CatalogFacade, settings: Settings, status_for: StatusFor, *,
          root_redirect: bool = False) -> Console:
    """Add the console to ``app`` (and, with ``root_redirect``, send ``/`` to it)."""
    console = Console(facade, settings, status_for)
    app.router.routes.append(console_mount(console))

    async def bare(_: object) -> Response:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    app.router.routes.append(Route(PREFIX, bare, methods=["GET"]))
    if root_redirect:
        app.router.routes.append(Route("/", bare, methods=["GET"]))
    return console
