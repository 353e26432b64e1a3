"""The console's pages: one function per page or form, each a few facade calls and a template."""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar

from pydantic import TypeAdapter
from starlette.responses import JSONResponse, Response

from modelward import catalog as c
from modelward.errors import CatalogError
from modelward.web import graph, health
from modelward.web.app import Console, Visit, logged_in, logged_out
from modelward.web.render import segment

PER_PAGE = 20
PAGE = 50
SEARCH_FIELDS = ("q", "owner", "line_of_business", "model_type", "stage", "environment", "target",
                 "registered_since", "registered_until", "deployed_since", "deployed_until")
DEPLOYMENT_FIELDS = ("model", "version", "environment", "target", "status", "since", "until")
_MOMENT: TypeAdapter[Any] = TypeAdapter(c.UtcDateTime)
STAGES = [s.value for s in c.Stage]
E = TypeVar("E", bound=Enum)


def _page_number(visit: Visit) -> int:
    raw = visit.arg("page") or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= c.MAX_PAGE:
        raise CatalogError(f"page must be a whole number from 1 to {c.MAX_PAGE}, not '{raw[:50]}'")
    return int(raw)


def _choice(kind: type[E], value: str, name: str) -> E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(str(member.value) for member in kind)
        raise CatalogError(f"{name} must be one of {allowed}, not '{value[:50]}'") from None


def _moment(visit: Visit, name: str) -> Any:
    value = visit.arg(name)
    return None if value is None else _MOMENT.validate_python(value)


# --- home: search ----------------------------------------------------------------------------------


def home(console: Console, visit: Visit) -> Response:
    """Search with filters; the newest versions when nothing is asked; the latest deployments."""
    form = {name: visit.arg(name) or "" for name in SEARCH_FIELDS}
    page = _page_number(visit)
    query = c.SearchQuery(text=form["q"] or None, page=page, per_page=PER_PAGE,
                          **{k: v for k, v in form.items() if k != "q" and v})
    searched = any(form.values())
    result = console.facade.search(visit.who, query) if searched else console.facade.newest(
        visit.who, page=page, per_page=PER_PAGE)
    recent = console.facade.deployments(visit.who, limit=5)
    return console.page(visit, "home.html", form=form, result=result, facets=console.facade.facets(visit.who),
                        stages=STAGES, targets=[t.value for t in c.Target], recent=recent.deployments,
                        pages=_pages(result.total, page, PER_PAGE), searched=searched)


def _pages(total: int, page: int, size: int) -> dict[str, int]:
    last = max((total + size - 1) // size, 1)
    return {"page": page, "last": last, "prev": page - 1 if page > 1 else 0, "next": page + 1 if page < last else 0}


# --- models and versions ---------------------------------------------------------------------------


def model(console: Console, visit: Visit) -> Response:
    name, page = visit.path("name"), _page_number(visit)
    found = console.facade.model_page(visit.who, name, limit=PAGE, offset=(page - 1) * PAGE)
    return console.page(visit, "model.html", m=found.model, versions=found.versions, total=found.total,
                        pages=_pages(found.total, page, PAGE))


def version(console: Console, visit: Visit) -> Response:
    name, number = visit.path("name"), visit.path("version")
    view = console.facade.version(visit.who, name, number)
    history = console.facade.audit(visit.who, entity=f"{name}@{number}", limit=PAGE)
    return console.page(visit, "version.html", v=view, history=history, validation=_validation(view, history),
                        stages=[s for s in STAGES if s != view.stage], changed=visit.arg("changed"))


def _validation(view: c.VersionView, history: list[c.AuditEventView]) -> dict[str, Any]:
    """What the version's validation came to: the known cases file, passes and failures on record."""
    passed = [e for e in history if e.action == "version.stage" and (e.after or {}).get("stage") == "validated"]
    failed = [d for d in view.deployments if d.status == "failed" and d.reason.startswith("validate failed")]
    return {"known_cases": view.manifest.get("known_cases") or "", "passed": passed, "failed": failed,
            "validated": view.stage in ("validated", "staging", "production")}


def promote(console: Console, visit: Visit) -> Response:
    name, number = visit.path("name"), visit.path("version")
    stage = _choice(c.Stage, visit.form.get("stage", ""), "stage")
    console.facade.promote(visit.who, name, number, stage)
    return console.redirect(visit, console.links.version(name, number) + f"?changed={stage.value}")


def lineage(console: Console, visit: Visit) -> Response:
    name, number = visit.path("name"), visit.path("version")
    found = console.facade.lineage(visit.who, name, number)
    drawn = graph.layout(found, version_href=console.links.version(name, number),
                         deployment_href=console.links.deployment)
    return console.page(visit, "lineage.html", g=found, drawing=drawn)


# --- deployments -----------------------------------------------------------------------------------


def deployments(console: Console, visit: Visit, *, failed: bool = False) -> Response:
    form = {name: visit.arg(name) or "" for name in DEPLOYMENT_FIELDS}
    if failed:
        form["status"] = "failed"
    page = _page_number(visit)
    status = _choice(c.DeploymentStatus, form["status"], "status") if form["status"] else None
    target = _choice(c.Target, form["target"], "target") if form["target"] else None
    found = console.facade.deployments(
        visit.who, model=form["model"] or None, version=form["version"] or None,
        environment=form["environment"] or None,
        target=target.value if target else None, status=status.value if status else None,
        since=_moment(visit, "since"), until=_moment(visit, "until"), limit=PAGE, offset=(page - 1) * PAGE)
    return console.page(visit, "attempts.html" if failed else "deployments.html", form=form, found=found,
                        pages=_pages(found.total, page, PAGE), statuses=[s.value for s in c.DeploymentStatus],
                        targets=[t.value for t in c.Target])


def attempts(console: Console, visit: Visit) -> Response:
    return deployments(console, visit, failed=True)


def deployment(console: Console, visit: Visit) -> Response:
    ident = visit.path("ident")
    view = console.facade.deployment(visit.who, ident)
    registered = console.facade.version(visit.who, view.model, view.version) if view.version_registered else None
    history = console.facade.audit(visit.who, entity=f"deployment:{ident}", limit=PAGE)
    restores = console.facade.rollback_target(visit.who, ident) if view.version_registered else None
    return console.page(visit, "deployment.html", d=view, v=registered, history=history, restores=restores,
                        health_url=health.health_url(view.endpoint_url), rolled_back=visit.arg("rolled_back"),
                        max_reason=c.MAX_REASON)


def rollback(console: Console, visit: Visit) -> Response:
    """Roll the deployment back; show the new current deployment (which names the one it rolled back)."""
    ident = visit.path("ident")
    done = console.facade.rollback(visit.who, ident, visit.form.get("reason", ""))
    return console.redirect(visit, console.links.deployment(done.deployment.id) + f"?rolled_back={segment(ident)}")


def deployment_health(console: Console, visit: Visit) -> Response:
    ident = visit.path("ident")
    view = console.facade.deployment(visit.who, ident)
    found = health.probe(view.endpoint_url)
    if visit.arg("format") == "json":
        return console.finish(visit, JSONResponse({"state": found.state, "detail": found.detail, "url": found.url}))
    return console.page(visit, "health.html", d=view, health=found)


# --- audit and tokens ------------------------------------------------------------------------------


def audit(console: Console, visit: Visit) -> Response:
    entity, page = visit.arg("entity"), _page_number(visit)
    events = console.facade.audit(visit.who, entity=entity, limit=PAGE + 1, offset=(page - 1) * PAGE)
    pages = {"page": page, "prev": page - 1 if page > 1 else 0, "next": page + 1 if len(events) > PAGE else 0}
    return console.page(visit, "audit.html", events=events[:PAGE], entity=entity or "", pages=pages)


def audit_verify(console: Console, visit: Visit) -> Response:
    check = console.facade.check_audit(visit.who)
    return console.page(visit, "audit_verify.html", check=check)


def tokens(console: Console, visit: Visit) -> Response:
    return console.page(visit, "tokens.html", tokens=console.facade.tokens(visit.who), revoked=visit.arg("revoked"))


def revoke(console: Console, visit: Visit) -> Response:
    ident = visit.path("ident")
    console.facade.revoke_token(visit.who, ident)
    return console.redirect(visit, console.links.tokens() + f"?revoked={ident}")


# --- login -----------------------------------------------------------------------------------------


def _next(console: Console, value: str | None) -> str:
    """Where to go after logging in: a console path only (no open redirect)."""
    prefix = console.links.prefix + "/"
    if value and value.startswith(prefix) and not value.startswith("//") and "\\" not in value:
        return value
    return prefix


def login_form(console: Console, visit: Visit) -> Response:
    return console.page(visit, "login.html", next_url=_next(console, visit.arg("next")), problem="")


def login(console: Console, visit: Visit) -> Response:
    token = visit.form.get("token", "").strip()
    target = _next(console, visit.form.get("next"))
    if not token:
        return console.page(visit, "login.html", status=401, next_url=target, problem="Enter a catalog token.")
    try:
        who = console.facade.login(token)
    except CatalogError as exc:
        return console.page(visit, "login.html", status=401, next_url=target, problem=exc.message)
    assert who.token is not None
    return console.redirect(logged_in(visit, who.token.id, c.token_digest(token)), target)


def logout(console: Console, visit: Visit) -> Response:
    return console.redirect(logged_out(visit), console.links.home())


def not_found(console: Console, visit: Visit) -> Response:
    return console.error(visit, 404, "Not found", [f"the console has no page at {visit.request.url.path}"])
