"""The console's plumbing: one visit per request (session, principal), pages, errors, forms, CSRF, headers.

Handlers (``web.pages``) are plain functions ``(Console, Visit) -> Response`` run in a worker thread
(the catalog is synchronous). A domain error becomes an error page whose status comes from the one
mapping that ``serving.errors`` owns (passed in as ``status_for``); bad query values a 422 page. A
form post must carry the session's CSRF token (and, when the browser sends one, a same-origin
``Origin``); otherwise nothing happens and a 403 page says why.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from jinja2 import Environment
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from modelward import catalog as c
from modelward.errors import ModelwardError, Unauthorized
from modelward.services.catalog_facade import ANONYMOUS, CatalogFacade, Principal
from modelward.settings import Settings
from modelward.web.render import Links, environment
from modelward.web.session import Session, Sessions, fresh, unchanged

logger = logging.getLogger(__name__)

PREFIX = "/console"
MAX_FORM_BYTES = 16 * 1024
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
StatusFor = Callable[[ModelwardError], int]


@dataclass(frozen=True)
class Visit:
    """One request to the console: the request, its session, who is asking, and the form (posts)."""

    request: Request
    session: Session
    who: Principal
    form: Mapping[str, str]

    def arg(self, name: str) -> str | None:
        """A query parameter, stripped; None when absent or empty."""
        value = self.request.query_params.get(name, "").strip()
        return value or None

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])


class Console:
    """Everything a page needs: the facade, sessions, templates, links and the status mapping."""

    def __init__(self, facade: CatalogFacade, settings: Settings, status_for: StatusFor,
                 prefix: str = PREFIX) -> None:
        self.facade = facade
        self.status_for = status_for
        self.links = Links(prefix)
        self.env: Environment = environment(self.links)
        secret = settings.web_session_secret.get_secret_value() if settings.web_session_secret else None
        if secret is None:
            logger.info("console sessions are signed with a random key: logins end when this process stops")
        self.sessions = Sessions(secret or secrets.token_urlsafe(32), int(settings.web_session_hours * 3600),
                                 prefix)

    # --- visits ----------------------------------------------------------------------------------

    def visit(self, request: Request, form: Mapping[str, str] | None = None) -> Visit:
        """Resolve the session (a new one for a new browser) and its principal (re-checked every time)."""
        session = self.sessions.load(request) or fresh()
        who = ANONYMOUS
        if session.token_id and session.digest:
            try:
                who = self.facade.resume(session.token_id, session.digest)
            except Unauthorized:  # revoked since: the session ends
                session = session.logout()
        return Visit(request, session, who, form or {})

    def page(self, visit: Visit, template: str, status: int = 200, **context: Any) -> Response:
        """Render ``template`` with the common context, the session cookie and the security headers."""
        html = self.env.get_template(template).render(
            who=visit.who, csrf=visit.session.csrf, read_open=self.facade.read_open, path=visit.request.url.path,
            current=visit.request.url.path, may_deploy=visit.who.may(c.Action.DEPLOY),
            may_admin=visit.who.may(c.Action.ADMIN), **context)
        return self.finish(visit, HTMLResponse(html, status_code=status))

    def redirect(self, visit: Visit, url: str) -> Response:
        return self.finish(visit, RedirectResponse(url, status_code=303))

    def finish(self, visit: Visit, response: Response) -> Response:
        self.sessions.save(response, visit.session, secure=visit.request.url.scheme == "https")
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def error(self, visit: Visit, status: int, title: str, messages: list[str]) -> Response:
        return self.page(visit, "error.html", status=status, title=title, messages=messages, status_code=status)

    # --- handlers --------------------------------------------------------------------------------

    def get(self, handler: Callable[[Console, Visit], Response]) -> Callable[[Request], Awaitable[Response]]:
        """A GET endpoint running ``handler`` in a worker thread, errors as pages."""
        async def endpoint(request: Request) -> Response:
            return await run_in_threadpool(self._run, handler, request, None)

        return endpoint

    def post(self, handler: Callable[[Console, Visit], Response]) -> Callable[[Request], Awaitable[Response]]:
        """A form POST endpoint: the CSRF token (and origin) are checked before ``handler`` runs."""
        async def endpoint(request: Request) -> Response:
            body = await request.body()
            form = dict(parse_qsl(body[:MAX_FORM_BYTES].decode("utf-8", "replace"), keep_blank_values=True))
            return await run_in_threadpool(self._run, handler, request, form)

        return endpoint

    def _run(self, handler: Callable[[Console, Visit], Response], request: Request,
             form: dict[str, str] | None) -> Response:
        visit = self.visit(request, form)
        if form is not None:
            refused = self._forged(visit)
            if refused:
                return self.error(visit, 403, "Request refused", [refused])
        try:
            return handler(self, visit)
        except ModelwardError as exc:
            return self._domain_error(visit, exc)
        except ValidationError as exc:
            problems = [f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()]
            return self.error(visit, 422, "Invalid request", problems)

    def _forged(self, visit: Visit) -> str:
        """Why a form post is refused as possibly forged ('' when it is fine)."""
        request = visit.request
        if visit.session.changed:  # no (valid) session came with the form: its token cannot be this one
            return "the form was sent without a console session (CSRF check): reload the page and try again"
        if not visit.session.csrf_ok(visit.form.get("csrf")):
            return "the form's CSRF token is missing or does not match this session: reload the page and try again"
        origin = request.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host", ""):
            return f"the form was sent from another origin ({origin})"
        return ""

    def _domain_error(self, visit: Visit, exc: ModelwardError) -> Response:
        status = self.status_for(exc)
        titles = {401: "Log in needed", 403: "Not allowed", 404: "Not found", 409: "Conflict"}
        return self.page(visit, "error.html", status=status, title=titles.get(status, "Request failed"),
                         messages=[exc.message], status_code=status,
                         login_url=self.links.login(visit.request.url.path) if status == 401 else "")


def logged_in(visit: Visit, token_id: str, digest: str) -> Visit:
    """``visit`` with its session logged in to the token."""
    return Visit(visit.request, visit.session.login(token_id, digest), visit.who, visit.form)


def logged_out(visit: Visit) -> Visit:
    return Visit(visit.request, visit.session.logout(), ANONYMOUS, visit.form)


def quiet(visit: Visit) -> Visit:
    """``visit`` with its session marked as sent (no cookie on this answer)."""
    return Visit(visit.request, unchanged(visit.session), visit.who, visit.form)
