"""The catalog REST API under ``/api/catalog/``.

Reads are open unless ``catalog_read_open`` is off; writes need ``Authorization: Bearer <token>``
whose role allows the action (publisher: register and describe; deployer: deployments, rollbacks and
stages; admin: everything). Domain errors become 401/403/404/409 through ``serving.errors``; bad input 422.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from modelward import catalog as c
from modelward.catalog.lineage import render_text
from modelward.errors import ModelwardError, Unauthorized
from modelward.services.catalog_facade import CatalogFacade, Principal
from modelward.serving.errors import JSON, error_response, validation_error
from modelward.serving.health import is_operator
from modelward.serving.limits import BodyLimit, BodyLimits
from modelward.serving.metrics_routes import HttpMetrics, add_metrics_route
from modelward.serving.shutdown import Draining
from modelward.settings import Settings

logger = logging.getLogger(__name__)
PREFIX = "/api/catalog"


class RegisterBody(BaseModel):
    """``POST /api/catalog/versions``: a model's attributes and one version."""

    model_config = ConfigDict(extra="forbid")

    model: c.ModelInfo
    version: c.VersionInfo


class StageBody(BaseModel):
    """``PUT .../stage``."""

    model_config = ConfigDict(extra="forbid")

    stage: c.Stage


class DeploymentPatch(BaseModel):
    """``PATCH /api/catalog/deployments/{id}``."""

    model_config = ConfigDict(extra="forbid")

    status: c.DeploymentStatus | None = None
    reason: str | None = None
    replicas: int | None = Field(default=None, ge=0, le=c.MAX_REPLICAS)  # as in DeploymentInfo
    endpoint_url: str | None = Field(default=None, max_length=1000)


class RollbackBody(BaseModel):
    """``POST /api/catalog/deployments/{id}/rollback``: why (optional, kept in the records and the audit trail)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=c.MAX_REASON)


ROLLBACK_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {"model": c.RollbackView, "description": "Rolled back: `deployment` is the new current deployment (the "
                                                 "previous version, running), `rolled_back` the one it replaced "
                                                 "(now `rolled_back`), `restored` the earlier deployment whose "
                                                 "version and configuration it runs again."},
    401: {"description": "No bearer token, or one that is unknown or revoked."},
    403: {"description": "The token's role may not deploy (it needs deployer or admin)."},
    404: {"description": "No deployment with this id."},
    409: {"description": "The deployment is not running, is a failed attempt, or has nothing to roll back to."},
    422: {"description": "A bad body (an unknown field, a reason over 1000 characters)."},
}


def _json(document: Any, status: int = 200) -> Response:
    if isinstance(document, BaseModel):
        document = document.model_dump(mode="json")
    return Response(orjson.dumps(document), status_code=status, media_type=JSON)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        return None
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    return token.strip()


def _guard(facade: CatalogFacade, action: c.Action) -> Callable[[Request], Principal]:
    def check(request: Request) -> Principal:
        if action is c.Action.READ and facade.read_open:
            return facade.principal(None, action)
        return facade.principal(_bearer(request), action)

    return check


def _search_query(q: str | None, params: dict[str, Any]) -> c.SearchQuery:
    try:
        return c.SearchQuery(text=q, **{k: v for k, v in params.items() if v not in (None, [], ())})
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]) from exc


def _only_known_query(request: Request) -> None:
    """Refuse query parameters the route does not take (a misspelt filter would otherwise match everything)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _query_names(route.dependant)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise RequestValidationError([
            {"type": "extra_forbidden", "loc": ("query", name), "input": request.query_params.get(name),
             "msg": f"unknown query parameter; this route takes: {', '.join(sorted(known)) or 'none'}"}
            for name in unknown])


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def router(facade: CatalogFacade) -> APIRouter:
    """Every catalog route, bound to ``facade``."""
    api = APIRouter(prefix=PREFIX, dependencies=[Depends(_only_known_query)])
    read = Depends(_guard(facade, c.Action.READ))
    publish = Depends(_guard(facade, c.Action.PUBLISH))
    deploy = Depends(_guard(facade, c.Action.DEPLOY))
    _read_routes(api, facade, read)
    _write_routes(api, facade, publish, deploy)
    return api


def _read_routes(api: APIRouter, facade: CatalogFacade, read: Any) -> None:
    @api.get("/models")
    def models(who: Principal = read, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
               offset: Annotated[int, Query(ge=0, le=c.MAX_OFFSET)] = 0) -> Response:
        return _json({"models": [m.model_dump(mode="json") for m in facade.models(who, limit=limit,
                                                                                 offset=offset)]})

    @api.get("/models/{name}")
    def model(name: str, who: Principal = read) -> Response:
        return _json(facade.model(who, name))

    @api.get("/models/{name}/versions/{version}")
    def version(name: str, version: str, who: Principal = read) -> Response:
        return _json(facade.version(who, name, version))

    @api.get("/lineage/{name}/{version}")
    def lineage(name: str, version: str, who: Principal = read,
                format: Literal["json", "text"] = "json") -> Response:
        graph = facade.lineage(who, name, version)
        if format == "text":
            return Response(render_text(graph) + "\n", media_type="text/plain")
        return _json(graph.model_dump(mode="json") | {"edges": graph.edges()})

    @api.get("/deployments")
    def deployments(who: Principal = read, model: str | None = None, version: str | None = None,
                    since: c.UtcDateTime | None = None, until: c.UtcDateTime | None = None,
                    environment: str | None = None, target: c.Target | None = None,
                    status: c.DeploymentStatus | None = None,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                    offset: Annotated[int, Query(ge=0, le=c.MAX_OFFSET)] = 0) -> Response:
        return _json(facade.deployments(
            who, model=model, version=version, since=since, until=until, environment=environment,
            target=target.value if target else None, status=status.value if status else None,
            limit=limit, offset=offset))

    @api.get("/deployments/{deployment_id}")
    def deployment(deployment_id: str, who: Principal = read) -> Response:
        return _json(facade.deployment(who, deployment_id))

    _search_and_audit(api, facade, read)


def _search_and_audit(api: APIRouter, facade: CatalogFacade, read: Any) -> None:
    @api.get("/search")
    def search(who: Principal = read, q: str | None = None, owner: str | None = None,
               line_of_business: str | None = None, model_type: str | None = None,
               project: str | None = None, stage: str | None = None, environment: str | None = None,
               target: str | None = None, tag: Annotated[list[str] | None, Query()] = None,
               registered_since: str | None = None, registered_until: str | None = None,
               deployed_since: str | None = None, deployed_until: str | None = None,
               page: str | None = None, per_page: str | None = None) -> Response:
        params = {"owner": owner, "line_of_business": line_of_business, "model_type": model_type,
                  "project": project, "stage": stage, "environment": environment, "target": target,
                  "tags": tuple(tag or ()), "registered_since": registered_since,
                  "registered_until": registered_until, "deployed_since": deployed_since,
                  "deployed_until": deployed_until, "page": page, "per_page": per_page}
        return _json(facade.search(who, _search_query(q, params)))

    @api.get("/audit")
    def audit(who: Principal = read, entity: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
              offset: Annotated[int, Query(ge=0, le=c.MAX_OFFSET)] = 0) -> Response:
        found = facade.audit(who, entity=entity, limit=limit, offset=offset)
        return _json({"events": [e.model_dump(mode="json") for e in found]})

    @api.get("/audit/verify")
    def verify(who: Principal = read) -> Response:
        return _json(facade.verify_audit(who))


def _write_routes(api: APIRouter, facade: CatalogFacade, publish: Any, deploy: Any) -> None:
    @api.post("/versions")
    def register(body: RegisterBody, who: Principal = publish) -> Response:
        view, created = facade.register(who, body.model, body.version)
        return _json(view, 201 if created else 200)

    @api.put("/models/{name}")
    def describe(name: str, body: dict[str, Any], who: Principal = publish) -> Response:
        try:
            info = c.ModelInfo(**{**body, "qualified_name": name})
        except ValidationError as exc:
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from exc
        return _json(facade.describe(who, info))

    @api.put("/models/{name}/versions/{version}/stage")
    def stage(name: str, version: str, body: StageBody, who: Principal = deploy) -> Response:
        return _json(facade.set_stage(who, name, version, body.stage))

    @api.post("/deployments")
    def record(body: c.DeploymentInfo, who: Principal = deploy) -> Response:
        return _json(facade.record_deployment(who, body), 201)

    @api.post("/attempts")
    def attempt(body: c.AttemptInfo, who: Principal = deploy) -> Response:
        return _json(facade.record_attempt(who, body), 201)

    @api.post("/deployments/{deployment_id}/rollback", status_code=201, responses=ROLLBACK_RESPONSES,
              summary="Roll a running deployment back to the version that ran before it")
    def rollback(deployment_id: str, body: RollbackBody | None = None, who: Principal = deploy) -> Response:
        """Record a new running deployment of the previous good version at the same place, mark this one
        ``rolled_back``, and append both to the audit trail (history is never deleted). The catalog records
        the rollback; it does not restart servers."""
        return _json(facade.rollback(who, deployment_id, body.reason if body else ""), 201)

    @api.patch("/deployments/{deployment_id}")
    def update(deployment_id: str, body: DeploymentPatch, who: Principal = deploy) -> Response:
        return _json(facade.update_deployment(who, deployment_id, **body.model_dump(exclude_none=True)))


def mount(app: FastAPI, settings: Settings) -> None:
    """Add the catalog routes to ``app`` (migrating first when ``catalog_auto_migrate`` is set).

    ``app.state.catalog_facade`` holds the facade, for the console to mount on the same catalog.
    """
    catalog = c.open_from_settings(settings)
    facade = CatalogFacade(catalog, read_open=settings.catalog_read_open)
    app.state.catalog = catalog
    app.state.catalog_facade = facade
    app.include_router(router(facade))


def create_catalog_app(settings: Settings) -> FastAPI:
    """An app with only the catalog API and ``/api/health`` (``modelward catalog serve``).

    Every request body is capped and timed by ``BodyLimit`` before a route parses it; ``/api/health``
    is 503 while the server drains for shutdown or the database cannot be read (the reason in full
    for operators and in the log only).
    """
    catalog = c.open_from_settings(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        catalog.dispose()

    app = FastAPI(title="modelward catalog", lifespan=lifespan, redirect_slashes=False)
    app.add_middleware(BodyLimit, limits=BodyLimits(settings.max_body_bytes, settings.body_timeout))
    app.state.catalog = catalog
    app.state.draining = Draining()
    facade = CatalogFacade(catalog, read_open=settings.catalog_read_open)
    app.state.catalog_facade = facade
    _error_handlers(app)
    app.add_middleware(HttpMetrics, metrics=add_metrics_route(app))

    @app.get("/api/health", include_in_schema=False)
    async def health(request: Request) -> Response:
        if app.state.draining.active:
            return _json({"health_status": "NOT_HEALTHY", "reason": "the service is shutting down"}, 503)
        try:
            await run_in_threadpool(c.current_revision, catalog)
        except ModelwardError as exc:
            logger.error("catalog health: %s", exc.message)
            reason = exc.message if await is_operator(request) else "the catalog database cannot be read; " \
                                                                     "see the service log"
            return _json({"health_status": "NOT_HEALTHY", "reason": reason}, 503)
        return _json({"health_status": "HEALTHY"})

    app.include_router(router(facade))
    return app


def _error_handlers(app: FastAPI) -> None:
    async def domain(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ModelwardError)
        return error_response(exc)

    async def invalid(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return validation_error((".".join(str(p) for p in err["loc"]), str(err["msg"])) for err in exc.errors())

    app.add_exception_handler(ModelwardError, domain)
    app.add_exception_handler(RequestValidationError, invalid)
